package relay

import (
	"context"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// LimitedWaiter is the relay's Wait with a cap on how many callers wait at
// once: each holds a connection (and a file descriptor) for up to 30s, and
// beyond the cap a caller is told at once that no answer came, which the
// conversion endpoint answers 202 (the event is stored either way).
type LimitedWaiter struct {
	r     *Relay
	slots chan struct{}
}

// LimitWaiters caps r's waiters at n.
func LimitWaiters(r *Relay, n int) *LimitedWaiter {
	return &LimitedWaiter{r: r, slots: make(chan struct{}, max(n, 1))}
}

// Wait is Relay.Wait while fewer than the cap wait, else false at once.
func (l *LimitedWaiter) Wait(ctx context.Context, id string) (sidecar.Event, bool) {
	select {
	case l.slots <- struct{}{}:
		defer func() { <-l.slots }()
		return l.r.Wait(ctx, id)
	default:
		return sidecar.Event{}, false
	}
}
