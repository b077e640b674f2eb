package relay

import (
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// fixedClock stands still: the policy only reads it.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                         { return c.t }
func (c fixedClock) After(d time.Duration) <-chan time.Time { return nil }

func testPolicy() (*policy, time.Time) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	return newPolicy(Options{RetryInitial: time.Second, RetryMaxInterval: 10 * time.Minute, RetryMaxAge: time.Hour}, fixedClock{now}), now
}

func TestAnEventIsRetriedAfterItsBackoffOrTheUpstreamsRetryAfterWhicheverIsLater(t *testing.T) {
	p, now := testPolicy()
	e := sidecar.Event{Attempts: 1, QueuedAt: now}
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{"no Retry-After: the first backoff, ±50%", 0, 500 * time.Millisecond, 1500 * time.Millisecond},
		{"a Retry-After longer than the backoff is honoured", 2 * time.Minute, 2 * time.Minute, 2 * time.Minute},
		{"a Retry-After past GLP_RETRY_MAX_INTERVAL waits that long only", 24 * time.Hour, 10 * time.Minute, 10 * time.Minute},
		{"a Retry-After shorter than the backoff never shortens it", time.Millisecond, 500 * time.Millisecond, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, ok := p.next(e, tc.retryAfter, now)
			if d := next.Sub(now); !ok || d < tc.lo || d > tc.hi {
				t.Errorf("in %v (%v), want %v–%v", d, ok, tc.lo, tc.hi)
			}
		})
	}
}

func TestTheLastRetryIsAtTheMaxAgeAndAfterItTheEventIsDead(t *testing.T) {
	p, now := testPolicy()
	e := sidecar.Event{Attempts: 20, QueuedAt: now.Add(-59 * time.Minute)}
	if next, ok := p.next(e, 0, now); !ok || !next.Equal(now.Add(time.Minute)) {
		t.Errorf("next %v (%v), want at the deadline %v", next, ok, now.Add(time.Minute))
	}
	e.QueuedAt = now.Add(-time.Hour)
	if _, ok := p.next(e, 0, now); ok {
		t.Error("retried past the max age")
	}
}

func TestProbesSlowDownHonourRetryAfterAndStartAfreshOnRecovery(t *testing.T) {
	p, now := testPolicy()
	var last time.Duration
	for i := 0; i < 12; i++ {
		last = p.nextProbe(0, now).Sub(now)
	}
	if last < MaxProbeInterval/2 || last > 3*MaxProbeInterval/2 {
		t.Errorf("after 12 failed probes the next waits %v, want about %v", last, MaxProbeInterval)
	}
	if d := p.nextProbe(5*time.Minute, now).Sub(now); d != 5*time.Minute {
		t.Errorf("with Retry-After 5m the next probe waits %v", d)
	}
	p.recovered()
	if d := p.nextProbe(0, now).Sub(now); d > 1500*time.Millisecond {
		t.Errorf("after recovery the first probe waits %v, want the first backoff", d)
	}
}
