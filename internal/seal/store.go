package seal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// The sealed fields, named in the authenticated data so that a value moved
// from one field to another does not open.
const (
	fieldEmail     = "email"
	fieldIP        = "ip"
	fieldSession   = "session_token"
	fieldClickIP   = "click.ip"
	fieldUserAgent = "click.user_agent"
	fieldReferrer  = "click.referrer"
	fieldClickNet  = "click.net" // the address range, the click log's fairness group
)

// Options configure a sealing Store.
type Options struct {
	Key    Key
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Store is a sidecar.Store whose personal fields are sealed on the way in
// and opened on the way out. Retention destroys the data keys of the days
// past it.
type Store struct {
	sidecar.Store
	sealer *Sealer
	now    func() time.Time
	log    *slog.Logger
}

// Inner is a store that keeps its data keys.
type Inner interface {
	sidecar.Store
	sidecar.KeyStore
}

// Wrap checks the key against the store and returns the sealing store.
func Wrap(ctx context.Context, inner Inner, opts Options) (*Store, error) {
	s, err := NewSealer(ctx, opts.Key, inner)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{Store: inner, sealer: s, now: opts.Now, log: opts.Logger}, nil
}

func (s *Store) sealConversion(ctx context.Context, c sidecar.Conversion, t time.Time) (sidecar.Conversion, error) {
	var err error
	for _, f := range []struct {
		name string
		v    *string
	}{{fieldEmail, &c.Email}, {fieldIP, &c.IP}, {fieldSession, &c.SessionToken}} {
		if *f.v, err = s.sealer.Seal(ctx, f.name, *f.v, t, false); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (s *Store) openConversion(ctx context.Context, c *sidecar.Conversion) error {
	var err error
	for _, f := range []struct {
		name string
		v    *string
	}{{fieldEmail, &c.Email}, {fieldIP, &c.IP}, {fieldSession, &c.SessionToken}} {
		if *f.v, err = s.sealer.Open(ctx, f.name, *f.v); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) openEvents(ctx context.Context, events []sidecar.Event, err error) ([]sidecar.Event, error) {
	if err != nil {
		return events, err
	}
	for i := range events {
		if err := s.openConversion(ctx, &events[i].Conversion); err != nil {
			return nil, fmt.Errorf("event %s: %w", events[i].ID, err)
		}
	}
	return events, nil
}

// Append seals the conversion's email, IP and session token under today's key.
func (s *Store) Append(ctx context.Context, e sidecar.NewEvent) (sidecar.Appended, error) {
	c, err := s.sealConversion(ctx, e.Conversion, s.now())
	if err != nil {
		return sidecar.Appended{}, &sidecar.Error{Code: sidecar.EUnavailable, Message: "cannot seal the event", Err: err}
	}
	e.Conversion = c
	return s.Store.Append(ctx, e)
}

func (s *Store) Claim(ctx context.Context, n int, lease time.Duration) ([]sidecar.Event, error) {
	events, err := s.Store.Claim(ctx, n, lease)
	return s.openEvents(ctx, events, err)
}

func (s *Store) ClaimProbe(ctx context.Context, lease time.Duration) ([]sidecar.Event, error) {
	events, err := s.Store.ClaimProbe(ctx, lease)
	return s.openEvents(ctx, events, err)
}

func (s *Store) List(ctx context.Context, state sidecar.State, before string, limit int) ([]sidecar.Event, error) {
	events, err := s.Store.List(ctx, state, before, limit)
	return s.openEvents(ctx, events, err)
}

func (s *Store) Get(ctx context.Context, id string) (sidecar.Event, []sidecar.Attempt, error) {
	e, attempts, err := s.Store.Get(ctx, id)
	if err != nil {
		return e, attempts, err
	}
	return e, attempts, s.openConversion(ctx, &e.Conversion)
}

func (s *Store) sealClick(ctx context.Context, c sidecar.Click) (sidecar.Click, error) {
	c = c.Stored()
	var err error
	if c.Net, err = s.sealer.Seal(ctx, fieldClickNet, sidecar.AddressRange(c.IP), c.At, true); err != nil {
		return c, err
	}
	if c.IP, err = s.sealer.Seal(ctx, fieldClickIP, c.IP, c.At, true); err != nil {
		return c, err
	}
	if c.UserAgent, err = s.sealer.Seal(ctx, fieldUserAgent, c.UserAgent, c.At, true); err != nil {
		return c, err
	}
	c.Referrer, err = s.sealer.Seal(ctx, fieldReferrer, c.Referrer, c.At, false)
	return c, err
}

// RecordClick seals the landing's address, user agent and referrer under
// its day's key.
func (s *Store) RecordClick(ctx context.Context, c sidecar.Click) error {
	c, err := s.sealClick(ctx, c)
	if err != nil {
		return fmt.Errorf("record click: %w", err)
	}
	return s.Store.RecordClick(ctx, c)
}

func (s *Store) RecordClicks(ctx context.Context, clicks []sidecar.Click, keep int) (int, error) {
	sealed := make([]sidecar.Click, len(clicks))
	for i, c := range clicks {
		var err error
		if sealed[i], err = s.sealClick(ctx, c); err != nil {
			return 0, fmt.Errorf("record clicks: %w", err)
		}
	}
	return s.Store.RecordClicks(ctx, sealed, keep)
}

// MatchClick looks for the landing day by day, newest first: a day's
// address and user agent seal the same under that day's key, so the store
// finds them by equality without opening anything.
func (s *Store) MatchClick(ctx context.Context, ip, userAgent string, since time.Time) (string, bool, error) {
	ip, userAgent = sidecar.CleanText(ip), sidecar.CleanText(userAgent)
	first := sidecar.KeyDay(since)
	for t := s.now(); sidecar.KeyDay(t) >= first; t = t.Add(-24 * time.Hour) {
		day := sidecar.KeyDay(t)
		sip, ok, err := s.sealer.sealFor(ctx, fieldClickIP, ip, day)
		if err != nil {
			return "", false, fmt.Errorf("match click: %w", err)
		}
		if !ok {
			continue
		}
		sua, _, err := s.sealer.sealFor(ctx, fieldUserAgent, userAgent, day)
		if err != nil {
			return "", false, fmt.Errorf("match click: %w", err)
		}
		if userAgent == "" {
			sua = ""
		}
		if ip == "" {
			sip = ""
		}
		id, found, err := s.Store.MatchClick(ctx, sip, sua, since)
		if err != nil || found {
			return id, found, err
		}
	}
	return "", false, nil
}

// clickKeeper is a store that keeps the key of click cookies and finds
// the landings of a click id (the corroboration of browser calls).
type clickKeeper interface {
	ClickKey(ctx context.Context) ([]byte, error)
	ClickLandedFrom(ctx context.Context, clickID string, since time.Time) ([]string, error)
}

// ClickKey is the inner store's: it is a key of the sidecar's, not
// personal data.
func (s *Store) ClickKey(ctx context.Context) ([]byte, error) {
	k, ok := s.Store.(clickKeeper)
	if !ok {
		return nil, errors.New("the store keeps no click key")
	}
	return k.ClickKey(ctx)
}

// ClickLandedFrom opens the addresses the inner store finds.
func (s *Store) ClickLandedFrom(ctx context.Context, clickID string, since time.Time) ([]string, error) {
	k, ok := s.Store.(clickKeeper)
	if !ok {
		return nil, errors.New("the store keeps no click log by click id")
	}
	ips, err := k.ClickLandedFrom(ctx, clickID, since)
	if err != nil {
		return nil, err
	}
	for i := range ips {
		if ips[i], err = s.sealer.Open(ctx, fieldClickIP, ips[i]); err != nil {
			return nil, fmt.Errorf("click landings: %w", err)
		}
	}
	return ips, nil
}

func (s *Store) Clicks(ctx context.Context, limit int) ([]sidecar.Click, error) {
	clicks, err := s.Store.Clicks(ctx, limit)
	if err != nil {
		return nil, err
	}
	for i := range clicks {
		c := &clicks[i]
		for _, f := range []struct {
			name string
			v    *string
		}{{fieldClickIP, &c.IP}, {fieldUserAgent, &c.UserAgent}, {fieldReferrer, &c.Referrer}} {
			if *f.v, err = s.sealer.Open(ctx, f.name, *f.v); err != nil {
				return nil, fmt.Errorf("list clicks: %w", err)
			}
		}
	}
	return clicks, nil
}

// Retain erases as the store does, then destroys the data keys of the days
// that ended age ago or more: their personal data is unreadable wherever a
// copy of it lies.
func (s *Store) Retain(ctx context.Context, age time.Duration) (int, error) {
	n, err := s.Store.Retain(ctx, age)
	if err != nil {
		return n, err
	}
	days, err := s.sealer.Destroy(ctx, sidecar.KeyDay(s.now().Add(-age)))
	if err != nil {
		return n, err
	}
	if len(days) > 0 {
		s.log.Info("destroyed the data keys of days past retention", "days", days)
	}
	return n, nil
}

// Maintain runs Retain (this one, which destroys keys) every interval.
func (s *Store) Maintain(ctx context.Context, retention, every time.Duration) {
	sidecar.RetainEvery(ctx, s.log, retention, every, s.Retain)
}

// Sealer is the store's sealer (for tests and tools).
func (s *Store) Sealer() *Sealer { return s.sealer }
