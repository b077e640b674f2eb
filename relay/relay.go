// Package relay delivers queued events to GLP Winner. A dispatcher claims due
// events from the outbox and hands them to a fixed number of workers over one
// keep-alive client; each worker records what the upstream answered. When the
// upstream fails, the relay stops fanning out and probes with one event at a
// backoff pace; when the upstream refuses the credentials it pauses, events
// stay queued, and it probes until they are accepted again.
package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Defaults and limits.
const (
	ConversionPath   = "/api/track/v1/conversion"
	MaxProbeInterval = time.Minute // the longest wait between probes of a failing upstream
	maxAnswerBytes   = 64 << 10
	idlePoll         = 2 * time.Second // look for work the relay was not told about (the CLI's retries)
	storeRetry       = time.Second
	minWait          = 10 * time.Millisecond // between two looks, whatever the clock says
	expireEvery      = time.Minute
	randomization    = 0.5 // ± jitter of every backoff interval
	multiplier       = 2   // each retry interval doubles the last
)

// Store is the outbox, as the relay uses it.
type Store interface {
	Claim(ctx context.Context, n int, lease time.Duration) ([]sidecar.Event, error)
	ClaimProbe(ctx context.Context, lease time.Duration) ([]sidecar.Event, error)
	Record(ctx context.Context, r sidecar.Result) error
	Release(ctx context.Context, ids ...string) error
	ResetBackoff(ctx context.Context) (int, error)
	RestartAge(ctx context.Context) (int, error)
	ExpireDead(ctx context.Context, maxAge time.Duration) ([]string, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	Get(ctx context.Context, id string) (sidecar.Event, []sidecar.Attempt, error)
}

// Observer is told of every attempt's outcome, for metrics.
type Observer interface {
	Attempted(verdict string, status int, d time.Duration)
}

// Options configure the relay.
type Options struct {
	Store            Store
	BaseURL          string // ConversionPath is appended
	ProviderID       int64
	Token            string
	TestMode         bool // every event with ?testMode=true
	Workers          int
	RequestTimeout   time.Duration
	RetryInitial     time.Duration
	RetryMaxInterval time.Duration
	RetryMaxAge      time.Duration
	Lease            time.Duration // 0: 2 × RequestTimeout + 5s
	Client           *http.Client  // nil: a keep-alive client that never follows redirects
	Observer         Observer
	Logger           *slog.Logger
	Now              func() time.Time
	After            func(time.Duration) <-chan time.Time // nil is time.After; tests run time faster
}

// Modes of the relay.
const (
	Running    = sidecar.RelayRunning
	BackingOff = sidecar.RelayBackingOff
	Paused     = sidecar.RelayPaused
)

// Status is the relay's state.
type Status = sidecar.RelayStatus

// Relay is the delivery loop.
type Relay struct {
	opts   Options
	url    string
	client *http.Client
	kick   chan struct{}

	mu      sync.Mutex
	status  Status
	waiters map[string][]chan sidecar.Event

	recording chan struct{}  // bounds the records not yet on disk
	records   sync.WaitGroup // records not yet on disk, which Run waits for

	// accepted is when (on the relay's clock) the latest attempt started
	// whose answer showed the credentials and URL accepted, and refused
	// when the latest pausing answer (401, 403, a redirect, 404, 405) came
	// (Unix ns): see refusedAlone.
	accepted, refused atomic.Int64
}

// New checks the options and returns the relay; Run starts it.
func New(opts Options) (*Relay, error) {
	if opts.Store == nil {
		return nil, errors.New("relay: no store")
	}
	if opts.Workers < 1 || opts.RequestTimeout <= 0 || opts.RetryInitial <= 0 || opts.RetryMaxInterval < opts.RetryInitial || opts.RetryMaxAge <= 0 {
		return nil, errors.New("relay: workers, request timeout and retry intervals must be positive")
	}
	if opts.Lease <= 0 {
		opts.Lease = 2*opts.RequestTimeout + 5*time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Client == nil {
		opts.Client = NewClient(opts.Workers, opts.RequestTimeout)
	}
	r := &Relay{
		opts: opts, client: opts.Client, kick: make(chan struct{}, 1),
		url:       strings.TrimRight(opts.BaseURL, "/") + ConversionPath,
		status:    Status{Mode: Running, Since: opts.Now()},
		waiters:   map[string][]chan sidecar.Event{},
		recording: make(chan struct{}, 4*opts.Workers),
	}
	return r, nil
}

// NewClient is the upstream client: keep-alive connections for the workers,
// timeouts on every phase, and redirects never followed, so that the token
// goes nowhere but GLP_API_URL.
func NewClient(workers int, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          workers,
			MaxIdleConnsPerHost:   workers,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Notify wakes the relay: a new event is queued.
func (r *Relay) Notify() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Status returns the relay's state.
func (r *Relay) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Ready is nil unless the relay is paused, when it is the reason.
func (r *Relay) Ready(context.Context) error {
	if s := r.Status(); s.Mode == Paused {
		return errors.New("relay paused: " + s.Reason)
	}
	return nil
}

// done is a worker's report to the dispatcher.
type done struct {
	verdict  verdict
	reason   string
	probe    bool
	released bool          // given back unsent: the relay stopped fanning out, or is stopping
	wait     time.Duration // Retry-After
}

// job is a claimed event for a worker.
type job struct {
	e     sidecar.Event
	probe bool
}

// Run delivers until ctx ends, then lets deliveries in flight finish (each
// is bounded by the request timeout), gives back what was claimed but not
// sent, and returns.
//
// A fixed pool of workers takes claimed events from a buffer four times
// their number; the dispatcher claims whenever the buffer is half empty, at
// least two workers' worth, so workers never wait for a claim's commit and
// a drain commits few claims.
func (r *Relay) Run(ctx context.Context) error {
	capacity := 4 * r.opts.Workers
	jobs := make(chan job, capacity)
	results := make(chan done, capacity)
	var stopping atomic.Bool
	var workers sync.WaitGroup
	for i := 0; i < r.opts.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				if stopping.Load() || (!j.probe && r.Status().Mode != Running) {
					r.release(j.e)
					results <- done{released: true, probe: j.probe}
					continue
				}
				results <- r.deliver(j.e, j.probe)
			}
		}()
	}
	defer r.records.Wait() // last: every attempt is on disk before Run returns
	defer workers.Wait()
	defer close(jobs)

	inFlight, probing := 0, false
	probeBackoff := r.newBackoff(min(r.opts.RetryMaxInterval, MaxProbeInterval))
	var nextProbe, lastExpire time.Time
	stop := ctx.Done()
	start := func(e sidecar.Event, probe bool) {
		inFlight++
		probing = probing || probe
		r.setInFlight(inFlight)
		jobs <- job{e, probe}
	}
	for {
		if stop == nil && inFlight == 0 {
			return nil
		}
		var timer <-chan time.Time
		if stop != nil {
			wake := r.dispatch(ctx, capacity-inFlight, probing, nextProbe, &lastExpire, start)
			timer = r.opts.After(max(wake.Sub(r.opts.Now()), minWait))
		}
		select {
		case <-stop:
			stop = nil
			stopping.Store(true)
			r.opts.Logger.Info("relay stopping", "in_flight", inFlight)
		case <-r.kick:
		case <-timer:
		case d := <-results:
			for {
				inFlight--
				if d.probe {
					probing = false
				}
				if !d.released {
					nextProbe = r.react(ctx, d, probeBackoff, nextProbe)
				}
				select { // take every report that is waiting before the next claim
				case d = <-results:
					continue
				default:
				}
				break
			}
			r.setInFlight(inFlight)
		}
	}
}

// release gives a claimed event back unsent.
func (r *Relay) release(e sidecar.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.RequestTimeout)
	defer cancel()
	if err := r.opts.Store.Release(ctx, e.ID); err != nil {
		r.opts.Logger.Warn("releasing an event failed; its lease runs out instead", "event_id", e.ID, "err", err)
	}
}

// dispatch claims what the mode and the free room allow and returns when to
// look again.
func (r *Relay) dispatch(ctx context.Context, free int, probing bool, nextProbe time.Time, lastExpire *time.Time, start func(sidecar.Event, bool)) time.Time {
	now := r.opts.Now()
	mode := r.Status().Mode
	if mode != Paused && now.Sub(*lastExpire) >= expireEvery {
		*lastExpire = now
		r.expire(ctx)
	}
	if mode != Running {
		if probing || free <= 0 {
			return now.Add(idlePoll) // a report wakes the loop first; a probe must never wait for room
		}
		if now.Before(nextProbe) {
			return nextProbe
		}
		evs, err := r.opts.Store.ClaimProbe(ctx, r.opts.Lease)
		if err != nil {
			r.opts.Logger.Warn("claim probe failed", "err", err)
			return now.Add(storeRetry)
		}
		for _, e := range evs {
			start(e, true)
		}
		return now.Add(idlePoll)
	}
	if free < 2*r.opts.Workers {
		return now.Add(idlePoll) // the buffer is at least half full; a report wakes the loop first
	}
	evs, err := r.opts.Store.Claim(ctx, free, r.opts.Lease)
	if err != nil {
		r.opts.Logger.Warn("claim failed", "err", err)
		return now.Add(storeRetry)
	}
	for _, e := range evs {
		start(e, false)
	}
	if len(evs) == free {
		return now // more may be due: look again at once
	}
	next, ok, err := r.opts.Store.NextDue(ctx)
	switch {
	case err != nil:
		r.opts.Logger.Warn("next due failed", "err", err)
		return now.Add(storeRetry)
	case ok && next.Before(now.Add(idlePoll)):
		return next
	}
	return now.Add(idlePoll)
}

// react changes the mode after an attempt and returns the next probe time.
func (r *Relay) react(ctx context.Context, d done, b *backoff.ExponentialBackOff, nextProbe time.Time) time.Time {
	now := r.opts.Now()
	mode := r.Status().Mode
	switch d.verdict {
	case pause, retry:
		newMode := BackingOff
		if d.verdict == pause {
			newMode = Paused
		}
		if mode == Running || d.probe || mode != newMode {
			wait := max(b.NextBackOff(), d.wait)
			nextProbe = now.Add(wait)
			r.setMode(newMode, d.reason, nextProbe)
			if mode != newMode {
				r.opts.Logger.Warn("relay "+map[string]string{Paused: "paused", BackingOff: "backing off"}[newMode],
					"reason", d.reason, "next_probe_in", wait.Round(time.Millisecond).String())
			}
		}
	default:
		if mode != Running {
			b.Reset()
			r.setMode(Running, "", time.Time{})
			n, err := r.opts.Store.ResetBackoff(context.WithoutCancel(ctx))
			if err != nil {
				r.opts.Logger.Warn("reset backoff failed", "err", err)
			}
			if mode == Paused {
				if _, err := r.opts.Store.RestartAge(context.WithoutCancel(ctx)); err != nil {
					r.opts.Logger.Warn("restart retry age failed", "err", err)
				}
			}
			r.opts.Logger.Info("relay resumed", "was", mode, "events_due_now", n)
			r.Notify()
		}
	}
	return nextProbe
}

func (r *Relay) expire(ctx context.Context) {
	ids, err := r.opts.Store.ExpireDead(ctx, r.opts.RetryMaxAge)
	if err != nil {
		r.opts.Logger.Warn("dead-lettering failed", "err", err)
		return
	}
	for _, id := range ids {
		r.opts.Logger.Warn("event dead", "event_id", id, "state", sidecar.StateDead, "reason", "undelivered after "+r.opts.RetryMaxAge.String())
		r.finish(sidecar.Event{ID: id, State: sidecar.StateDead})
	}
}

func (r *Relay) setMode(mode, reason string, nextProbe time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status.Mode != mode {
		r.status.Since = r.opts.Now()
	}
	r.status.Mode, r.status.Reason, r.status.NextProbe = mode, reason, nextProbe
}

func (r *Relay) setInFlight(n int) {
	r.mu.Lock()
	r.status.InFlight = n
	r.mu.Unlock()
}

// newBackoff is backoff/v4's exponential backoff without an end: the retry
// state lives in the outbox, never in a timer that gives up.
func (r *Relay) newBackoff(maxInterval time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     r.opts.RetryInitial,
		RandomizationFactor: randomization,
		Multiplier:          multiplier,
		MaxInterval:         maxInterval,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               clockFunc(r.opts.Now),
	}
	b.Reset()
	return b
}

type clockFunc func() time.Time

func (c clockFunc) Now() time.Time { return c() }

// RetryDelay is the wait before attempt n+1 of an event whose n-th attempt
// failed: exponential from RetryInitial to RetryMaxInterval, with jitter.
func (r *Relay) RetryDelay(n int) time.Duration {
	b := r.newBackoff(r.opts.RetryMaxInterval)
	d := b.NextBackOff()
	for i := 1; i < min(n, 64); i++ {
		d = b.NextBackOff()
	}
	return d
}

// deliver makes one attempt, records it and reports to the dispatcher.
func (r *Relay) deliver(e sidecar.Event, probe bool) done {
	started := r.opts.Now()
	realStart := time.Now()
	a := r.post(e).redacted(r.opts.Token)
	took := time.Since(realStart)
	v, reason := classify(a)
	reason = sidecar.Redact(reason, r.opts.Token) // whatever classify read out of the answer
	switch {
	case v == delivered || v == duplicate || v == rejected:
		latest(&r.accepted, started)
	case v == pause && r.refusedAlone(e):
		// Other events were accepted since this one last drew such an
		// answer: it is about this event, not the credentials or the URL.
		v, reason = rejected, reason+"; only this event draws it while others are accepted"
	case v == pause:
		latest(&r.refused, r.opts.Now())
	}
	res := r.result(e, a, v, reason, started, took)
	if r.opts.Observer != nil {
		r.opts.Observer.Attempted(res.Attempt.Outcome, a.status, took)
	}
	// The worker goes on to its next event while the attempt is committed:
	// a crash before the commit only means the lease runs out and the event
	// is sent again, counted as an attempt that may have landed.
	r.recording <- struct{}{}
	r.records.Add(1)
	go func() {
		defer func() { <-r.recording; r.records.Done() }()
		r.record(e, res, a.status, v, reason, took)
	}()
	return done{verdict: v, reason: reason, probe: probe, wait: min(a.retryAfter, r.opts.RetryMaxInterval)}
}

// latest keeps the later of v and t.
func latest(v *atomic.Int64, t time.Time) {
	n := t.UnixNano()
	for {
		cur := v.Load()
		if cur >= n || v.CompareAndSwap(cur, n) {
			return
		}
	}
}

// refusedAlone reports whether a pausing answer (401, 403, a redirect, 404,
// 405) is about this event alone: it drew one before, and an attempt that
// started after that one, and after every pausing answer since, was
// accepted. A token revoked anew refuses every event: the first answers of
// that outage pause the relay, and an event struck in an outage long past
// is not rejected for it.
func (r *Relay) refusedAlone(e sidecar.Event) bool {
	acc := r.accepted.Load()
	return e.RefusedAlone > 0 && acc > e.LastRefusedAt.UnixNano() && acc > r.refused.Load()
}

// record commits an attempt, logs it, and tells the event's waiters.
func (r *Relay) record(e sidecar.Event, res sidecar.Result, status int, v verdict, reason string, took time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.RequestTimeout+10*time.Second)
	defer cancel()
	if err := r.opts.Store.Record(ctx, res); err != nil {
		// The lease runs out and the event is sent again; the upstream's
		// per-click dedup makes the repeat harmless.
		r.opts.Logger.Error("recording an attempt failed", "event_id", e.ID, "err", err)
		return
	}
	// One line per attempt, built only when its level is logged: at the
	// rates of a drain, formatting lines nobody reads costs real CPU.
	level := slog.LevelInfo
	if v == retry || v == pause || v == rejected {
		level = slog.LevelWarn
	}
	if r.opts.Logger.Enabled(ctx, level) {
		msg, extra := "event "+string(res.State), []any{"upstream_conversion_id", res.Upstream.ConversionID}
		switch v {
		case retry, pause:
			msg, extra = "upstream failure", []any{"reason", reason, "outcome", res.Attempt.Outcome, "next_attempt_at", res.NextAttemptAt}
		case rejected:
			msg, extra = "event rejected", []any{"reason", reason}
		}
		r.opts.Logger.Log(ctx, level, msg, append([]any{"event_id", e.ID, "state", res.State, "attempt", e.Attempts, "status", status, "duration_ms", took.Milliseconds()}, extra...)...)
	}
	if res.State != sidecar.StateQueued {
		r.finish(sidecar.Event{ID: e.ID, State: res.State, LastStatus: status, LastBody: res.Attempt.Body, Upstream: res.Upstream})
	}
}

// result is what the outbox records for an attempt: the state the answer
// and the event's history come to. An earlier attempt that may have landed
// makes a 200 duplicate its own conversion (delivered) and a refusal
// unconfirmed; a soft-matched event that more than one attempt may have
// recorded may be held twice.
func (r *Relay) result(e sidecar.Event, a answer, v verdict, reason string, started time.Time, took time.Duration) sidecar.Result {
	now := r.opts.Now()
	res := sidecar.Result{
		EventID:    e.ID,
		LeaseUntil: e.LeaseUntil,
		Attempt:    sidecar.Attempt{N: e.Attempts, StartedAt: started, Duration: took, Status: a.status, Error: reason, Body: string(a.body), MayHaveLanded: a.landed},
	}
	switch v {
	case delivered:
		res.State, res.Upstream = sidecar.StateDelivered, upstreamResult(a.body)
	case duplicate:
		res.State, res.Upstream = sidecar.StateDuplicate, upstreamResult(a.body)
		if e.MayHaveLanded {
			res.State, res.Attempt.Error = sidecar.StateDelivered, "already tracked: by an earlier attempt of this event, which may have landed unanswered"
		}
	case rejected:
		res.State = sidecar.StateRejected
		if e.MayHaveLanded {
			res.State, res.Attempt.Error = sidecar.StateUnconfirmed, reason+"; an earlier attempt may have landed: most likely recorded by it"
		}
	case pause:
		// Not the event's fault, as far as anyone can tell yet: it stays
		// queued, due at once (behind every event due before it, so that
		// probes rotate), and the attempt does not count toward its retries.
		res.State, res.NextAttemptAt, res.Uncounted, res.RefusedAlone = sidecar.StateQueued, now, true, true
		res.Attempt.Outcome = "paused"
	case retry:
		deadline := e.QueuedAt.Add(r.opts.RetryMaxAge)
		if !now.Before(deadline) {
			res.State = sidecar.StateDead
			res.Attempt.Error += "; undelivered after " + r.opts.RetryMaxAge.String()
			break
		}
		wait := max(r.RetryDelay(e.Attempts), min(a.retryAfter, r.opts.RetryMaxInterval))
		next := now.Add(wait)
		if next.After(deadline) {
			next = deadline // one last attempt at the deadline
		}
		res.State, res.NextAttemptAt = sidecar.StateQueued, next
		res.Attempt.Outcome = "retry"
	}
	if res.State != sidecar.StateQueued && possibleDouble(e, a, v) {
		res.PossibleDouble = true
		res.Attempt.Error = strings.TrimPrefix(res.Attempt.Error+"; ", "; ") + "soft-matched, and GLP Winner may have recorded more than one of its attempts: it may hold it twice"
	}
	if res.Attempt.Outcome == "" {
		res.Attempt.Outcome = string(res.State) // a final state names itself
	}
	return res
}

// possibleDouble reports whether GLP Winner may hold a finished event more
// than once: it can only soft-match it (no click id, no session token:
// nothing dedups a resend), and its attempts that may have recorded it
// (those that may have landed, this one included, and a 201) come to two
// or more.
func possibleDouble(e sidecar.Event, a answer, v verdict) bool {
	if e.Conversion.ClickID != "" || e.Conversion.SessionToken != "" {
		return false
	}
	recorded := e.Landed
	if a.landed || v == delivered {
		recorded++
	}
	return recorded >= 2
}

// payload is the upstream's body: providerId and the conversion's fields.
type payload struct {
	ProviderID int64 `json:"providerId"`
	sidecar.Conversion
}

// post sends one event and reads the answer.
func (r *Relay) post(e sidecar.Event) answer {
	body, err := json.Marshal(payload{ProviderID: r.opts.ProviderID, Conversion: e.Conversion})
	if err != nil {
		return answer{err: fmt.Errorf("encode: %w", err)}
	}
	target := r.url
	if e.Test || r.opts.TestMode {
		target += "?testMode=true"
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.RequestTimeout)
	defer cancel()
	// Whether the request was written tells an attempt that never left
	// (connection refused, DNS, TLS, a dial timeout) from one that may have
	// landed: written, and no answer read.
	var connected, wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:      func(httptrace.GotConnInfo) { connected.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.opts.Token)
	req.Header.Set("User-Agent", "glp-sidecar")
	resp, err := r.client.Do(req)
	if err != nil {
		return unanswered(scrub(err), connected.Load(), wrote.Load())
	}
	defer resp.Body.Close()
	// A little more than is kept, so that a token echoed across the cut is
	// read whole, redacted, and only then cut off (answer.redacted).
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+redactSlack(r.opts.Token)))
	if err != nil {
		return unanswered(fmt.Errorf("read answer: %w", scrub(err)), true, true)
	}
	return answer{status: resp.StatusCode, body: b, header: resp.Header, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// unanswered is an attempt without an answer, saying whether it may have
// landed.
func unanswered(err error, connected, wrote bool) answer {
	switch {
	case wrote:
		return answer{err: fmt.Errorf("request written, no answer read (it may have landed): %w", err), landed: true}
	case connected:
		return answer{err: fmt.Errorf("request not written: %w", err)}
	}
	return answer{err: fmt.Errorf("no connection, request not sent: %w", err)}
}

// scrub drops the URL wrapper of a client error: what went wrong is the
// cause, and the URL is in the configuration already.
func scrub(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if ue.Timeout() || errors.Is(ue.Err, context.DeadlineExceeded) {
		return errors.New("timed out (GLP_REQUEST_TIMEOUT)")
	}
	return ue.Err
}

// Wait returns the event once its delivery ends in a final state, or false
// when ctx ends first.
func (r *Relay) Wait(ctx context.Context, id string) (sidecar.Event, bool) {
	ch := make(chan sidecar.Event, 1)
	r.mu.Lock()
	r.waiters[id] = append(r.waiters[id], ch)
	r.mu.Unlock()
	defer r.unwait(id, ch)
	if e, _, err := r.opts.Store.Get(ctx, id); err == nil && e.State != sidecar.StateQueued {
		return e, true
	}
	select {
	case e := <-ch:
		return e, true
	case <-ctx.Done():
		return sidecar.Event{}, false
	}
}

func (r *Relay) unwait(id string, ch chan sidecar.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.waiters[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(r.waiters, id)
	} else {
		r.waiters[id] = list
	}
}

// finish tells the waiters of an event that it reached a final state.
func (r *Relay) finish(e sidecar.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range r.waiters[e.ID] {
		select {
		case ch <- e:
		default:
		}
	}
}
