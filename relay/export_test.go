package relay

import (
	"net/http"
	"time"
)

// Clock is the relay's clock, for tests that run time faster.
type Clock = clock

// Hooks are the options only tests set.
type Hooks struct {
	Clock  Clock         // nil: the wall clock
	Lease  time.Duration // 0: 2 × RequestTimeout + 5s
	Client *http.Client  // nil: a keep-alive client that never follows redirects
}

// WithHooks is opts with the hooks set.
func WithHooks(opts Options, h Hooks) Options {
	opts.clock, opts.lease, opts.client = h.Clock, h.Lease, h.Client
	return opts
}

// RetryDelay is the policy's delay after n failed attempts of an event.
func (r *Relay) RetryDelay(n int) time.Duration { return r.policy.delay(n) }
