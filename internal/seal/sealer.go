package seal

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// prefix starts every sealed value: "g1.<YYYYMMDD>.<base64url(nonce|ciphertext)>".
// A value without it was stored before the key was set, and is read as is.
const prefix = "g1."

// dayKey is one day's data key, unwrapped, in memory only.
type dayKey struct {
	aead  cipher.AEAD
	nonce []byte // HMAC key for the nonces of matchable values
}

// Sealer seals and opens fields with the data key of their day, creating
// a day's key on its first use and destroying keys past retention.
type Sealer struct {
	file Key
	keys sidecar.KeyStore

	mu   sync.Mutex
	days map[string]*dayKey // nil: known destroyed
}

// ErrWrongKey is a file key other than the one a store was written with.
var ErrWrongKey = errors.New("wrong data key")

// NewSealer checks the file key against the store's (recording it on a
// store never written with one) and returns the sealer. A store written
// with another key is an error that names both fingerprints.
func NewSealer(ctx context.Context, file Key, keys sidecar.KeyStore) (*Sealer, error) {
	fp, err := keys.KeyFingerprint(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the data key's fingerprint: %w", err)
	}
	switch {
	case fp == "":
		if err := keys.SetKeyFingerprint(ctx, file.Fingerprint()); err != nil {
			return nil, fmt.Errorf("record the data key's fingerprint: %w", err)
		}
	case fp != file.Fingerprint():
		return nil, fmt.Errorf("%w: the outbox was written with key %s, and GLP_DATA_KEY_FILE holds key %s", ErrWrongKey, fp, file.Fingerprint())
	}
	s := &Sealer{file: file, keys: keys, days: map[string]*dayKey{}}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckUnsealed refuses a store written with a key when none is given.
func CheckUnsealed(ctx context.Context, keys sidecar.KeyStore) error {
	fp, err := keys.KeyFingerprint(ctx)
	if err != nil {
		return fmt.Errorf("read the data key's fingerprint: %w", err)
	}
	if fp != "" {
		return fmt.Errorf("%w: the outbox was written encrypted with key %s: set GLP_DATA_KEY_FILE to that key's file", ErrWrongKey, fp)
	}
	return nil
}

// load unwraps every stored data key that is not cached yet.
func (s *Sealer) load(ctx context.Context) error {
	stored, err := s.keys.DataKeys(ctx)
	if err != nil {
		return fmt.Errorf("read data keys: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range stored {
		if _, ok := s.days[k.Day]; ok {
			continue
		}
		dk, err := s.file.unwrap(k.Day, k.Wrapped)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWrongKey, err)
		}
		s.days[k.Day] = newDayKey(dk)
	}
	return nil
}

func newDayKey(dk []byte) *dayKey {
	m := hmac.New(sha256.New, dk)
	m.Write([]byte("glp-sidecar nonce key"))
	return &dayKey{aead: newAEAD(dk), nonce: m.Sum(nil)}
}

// day returns the day's key: cached, else loaded from the store, else (when
// create) made, wrapped and stored. nil: the day's key was destroyed.
func (s *Sealer) day(ctx context.Context, day string, create bool) (*dayKey, error) {
	s.mu.Lock()
	k, ok := s.days[day]
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	k, ok = s.days[day]
	s.mu.Unlock()
	if ok || !create {
		return k, nil
	}
	// A rotation (sidecar outbox rekey) while this process runs: a key
	// wrapped by the old file key now would open with neither.
	if fp, err := s.keys.KeyFingerprint(ctx); err != nil || fp != s.file.Fingerprint() {
		return nil, fmt.Errorf("%w: the outbox's data keys are now wrapped by key %s: restart with that key's file (%v)", ErrWrongKey, fp, err)
	}
	dk := make([]byte, KeySize)
	rand.Read(dk)
	stored, err := s.keys.AddDataKey(ctx, sidecar.DataKey{Day: day, Wrapped: s.file.wrap(day, dk)})
	if err != nil {
		return nil, fmt.Errorf("store the data key of %s: %w", day, err)
	}
	if dk, err = s.file.unwrap(day, stored.Wrapped); err != nil {
		return nil, err
	}
	k = newDayKey(dk)
	s.mu.Lock()
	s.days[day] = k
	s.mu.Unlock()
	return k, nil
}

// forget drops destroyed days' keys from memory: they open nothing again.
func (s *Sealer) forget(days []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range days {
		s.days[d] = nil
	}
}

func aad(field, day string) []byte { return []byte(field + "\x00" + day) }

// Seal seals v, a value of field stored at t, under t's day key; "" stays
// "". A matchable value gets a nonce derived from the value (the same value
// of the same day seals the same), so that a store can find it by equality
// (the click log's address and user agent, for the local match).
func (s *Sealer) Seal(ctx context.Context, field, v string, t time.Time, matchable bool) (string, error) {
	if v == "" {
		return "", nil
	}
	day := sidecar.KeyDay(t)
	k, err := s.day(ctx, day, true)
	if err != nil {
		return "", err
	}
	if k == nil {
		return "", fmt.Errorf("the data key of %s was destroyed by retention", day)
	}
	return seal(k, field, day, v, matchable), nil
}

func seal(k *dayKey, field, day, v string, matchable bool) string {
	nonce := make([]byte, k.aead.NonceSize())
	if matchable {
		m := hmac.New(sha256.New, k.nonce)
		m.Write(aad(field, day))
		m.Write([]byte(v))
		copy(nonce, m.Sum(nil))
	} else {
		rand.Read(nonce)
	}
	ct := k.aead.Seal(nonce, nonce, []byte(v), aad(field, day))
	return prefix + strings.ReplaceAll(day, "-", "") + "." + base64.RawURLEncoding.EncodeToString(ct)
}

// sealFor seals v under an existing day's key without creating one; ok is
// false when the day has no key.
func (s *Sealer) sealFor(ctx context.Context, field, v, day string) (string, bool, error) {
	k, err := s.day(ctx, day, false)
	if err != nil || k == nil {
		return "", false, err
	}
	return seal(k, field, day, v, true), true, nil
}

// Open returns the value sealed in v: v itself when it was stored before
// the key was set, "" when its day's key was destroyed (erased).
func (s *Sealer) Open(ctx context.Context, field, v string) (string, error) {
	rest, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return v, nil
	}
	d, b64, ok := strings.Cut(rest, ".")
	if !ok || len(d) != 8 {
		return "", fmt.Errorf("a sealed %s is malformed", field)
	}
	day := d[:4] + "-" + d[4:6] + "-" + d[6:]
	ct, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("a sealed %s is malformed", field)
	}
	k, err := s.day(ctx, day, false)
	if err != nil {
		return "", err
	}
	if k == nil {
		s.forget([]string{day}) // a value of that day was sealed: its key existed, and was destroyed
		return "", nil
	}
	n := k.aead.NonceSize()
	if len(ct) < n {
		return "", fmt.Errorf("a sealed %s is malformed", field)
	}
	pt, err := k.aead.Open(nil, ct[:n], ct[n:], aad(field, day))
	if err != nil {
		return "", fmt.Errorf("a sealed %s of %s does not open: altered or moved", field, day)
	}
	return string(pt), nil
}

// Destroy destroys the data keys of the days before the given one.
func (s *Sealer) Destroy(ctx context.Context, before string) ([]string, error) {
	days, err := s.keys.DestroyDataKeys(ctx, before)
	if err != nil {
		return nil, fmt.Errorf("destroy data keys: %w", err)
	}
	s.forget(days)
	s.mu.Lock()
	for d := range s.days {
		if d < before {
			s.days[d] = nil
		}
	}
	s.mu.Unlock()
	return days, nil
}

// Rekey re-wraps every data key of keys, wrapped by old, under next, and
// records next's fingerprint, in one transaction. The data stays as it is.
func Rekey(ctx context.Context, keys sidecar.KeyStore, old, next Key) (int, error) {
	fp, err := keys.KeyFingerprint(ctx)
	if err != nil {
		return 0, err
	}
	if fp != "" && fp != old.Fingerprint() {
		return 0, fmt.Errorf("%w: the outbox was written with key %s, and the current key file holds key %s", ErrWrongKey, fp, old.Fingerprint())
	}
	stored, err := keys.DataKeys(ctx)
	if err != nil {
		return 0, err
	}
	out := make([]sidecar.DataKey, 0, len(stored))
	for _, k := range stored {
		dk, err := old.unwrap(k.Day, k.Wrapped)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrWrongKey, err)
		}
		out = append(out, sidecar.DataKey{Day: k.Day, Wrapped: next.wrap(k.Day, dk)})
	}
	if err := keys.RewrapDataKeys(ctx, out, next.Fingerprint()); err != nil {
		return 0, fmt.Errorf("re-wrap data keys: %w", err)
	}
	return len(out), nil
}
