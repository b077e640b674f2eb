package relay

import (
	"time"

	"github.com/cenkalti/backoff/v4"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// policy is the relay's retry policy, whole: when a failed event is tried
// again (its own backoff, from its attempts), how fast a failing upstream
// is probed (the relay's backoff, reset once the upstream accepts), and how
// the upstream's Retry-After weighs on both: honoured, up to
// RetryMaxInterval, never shortening a wait.
//
// Its schedule of events is safe for concurrent use; its probe pace is the
// dispatcher's alone.
type policy struct {
	initial, maxInterval, maxAge time.Duration
	clock                        clock
	probes                       *backoff.ExponentialBackOff
}

func newPolicy(opts Options, c clock) *policy {
	p := &policy{initial: opts.RetryInitial, maxInterval: opts.RetryMaxInterval, maxAge: opts.RetryMaxAge, clock: c}
	p.probes = p.backoff(min(opts.RetryMaxInterval, MaxProbeInterval))
	return p
}

// backoff is backoff/v4's exponential backoff without an end: the retry
// state lives in the outbox, never in a timer that gives up.
func (p *policy) backoff(maxInterval time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.initial,
		RandomizationFactor: randomization,
		Multiplier:          multiplier,
		MaxInterval:         maxInterval,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               p.clock,
	}
	b.Reset()
	return b
}

// retryAfter is how much of the upstream's Retry-After the relay honours.
func (p *policy) retryAfter(d time.Duration) time.Duration { return min(d, p.maxInterval) }

// delay is the wait before attempt n+1 of an event whose n-th attempt
// failed: exponential from RetryInitial to RetryMaxInterval, with jitter.
func (p *policy) delay(n int) time.Duration {
	b := p.backoff(p.maxInterval)
	d := b.NextBackOff()
	for i := 1; i < min(n, 64); i++ {
		d = b.NextBackOff()
	}
	return d
}

// next is when an event whose attempt failed at now is tried again, the
// upstream having asked for retryAfter; false when the retry max age is
// past (the event is dead). The last attempt is at the deadline.
func (p *policy) next(e sidecar.Event, retryAfter time.Duration, now time.Time) (time.Time, bool) {
	if e.Overdue(p.maxAge, now) {
		return time.Time{}, false
	}
	next := now.Add(max(p.delay(e.Attempts), p.retryAfter(retryAfter)))
	if deadline := e.QueuedAt.Add(p.maxAge); next.After(deadline) {
		next = deadline
	}
	return next, true
}

// nextProbe is when the next probe of a failing upstream may go, after one
// failed at now, the upstream having asked for retryAfter.
func (p *policy) nextProbe(retryAfter time.Duration, now time.Time) time.Time {
	return now.Add(max(p.probes.NextBackOff(), p.retryAfter(retryAfter)))
}

// recovered starts the probes' pace afresh: the upstream accepted.
func (p *policy) recovered() { p.probes.Reset() }
