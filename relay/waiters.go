package relay

import (
	"context"
	"sync"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// EventReader is the outbox as Wait reads it.
type EventReader interface {
	Get(ctx context.Context, id string) (sidecar.Event, []sidecar.Attempt, error)
}

// waiters are the callers of Wait (the conversion endpoint's ?wait=), by
// event id. The relay tells them through finish when an event reaches a
// final state; a caller that asks after that reads it from the outbox.
type waiters struct {
	events EventReader

	mu   sync.Mutex
	byID map[string][]chan sidecar.Event
}

func newWaiters(events EventReader) *waiters {
	return &waiters{events: events, byID: map[string][]chan sidecar.Event{}}
}

// Wait returns the event once its delivery ends in a final state, or false
// when ctx ends first.
func (r *Relay) Wait(ctx context.Context, id string) (sidecar.Event, bool) {
	return r.waiters.wait(ctx, id)
}

func (w *waiters) wait(ctx context.Context, id string) (sidecar.Event, bool) {
	ch := make(chan sidecar.Event, 1)
	w.mu.Lock()
	w.byID[id] = append(w.byID[id], ch)
	w.mu.Unlock()
	defer w.remove(id, ch)
	if e, _, err := w.events.Get(ctx, id); err == nil && e.State != sidecar.StateQueued {
		return e, true
	}
	select {
	case e := <-ch:
		return e, true
	case <-ctx.Done():
		return sidecar.Event{}, false
	}
}

func (w *waiters) remove(id string, ch chan sidecar.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.byID[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.byID, id)
	} else {
		w.byID[id] = list
	}
}

// finish tells the waiters of an event that it reached a final state.
func (w *waiters) finish(e sidecar.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.byID[e.ID] {
		select {
		case ch <- e:
		default:
		}
	}
}

// LimitedWaiter is the relay's Wait with a cap on how many callers wait at
// once: each holds a connection (and a file descriptor) for up to 30s, and
// beyond the cap a caller is told at once that no answer came, which the
// conversion endpoint answers 202 (the event is stored either way).
type LimitedWaiter struct {
	w     *waiters
	slots chan struct{}
	full  func() // told of each caller turned away at the cap
}

// LimitWaiters caps r's waiters at n; full (nil: nobody) is told of each
// caller turned away, for metrics: a cap reached often means the upstream
// is slow to answer, or the cap is too low for the backend's traffic.
func LimitWaiters(r *Relay, n int, full func()) *LimitedWaiter {
	if full == nil {
		full = func() {}
	}
	return &LimitedWaiter{w: r.waiters, slots: make(chan struct{}, max(n, 1)), full: full}
}

// Wait is Relay.Wait while fewer than the cap wait, else false at once.
func (l *LimitedWaiter) Wait(ctx context.Context, id string) (sidecar.Event, bool) {
	select {
	case l.slots <- struct{}{}:
		defer func() { <-l.slots }()
		return l.w.wait(ctx, id)
	default:
		l.full()
		return sidecar.Event{}, false
	}
}

// FleetPoll is how often a FleetWaiter reads the event: another sidecar of
// the fleet may be the one that delivers it.
const FleetPoll = 100 * time.Millisecond

// Waiter waits for an event's final state (the conversion endpoint's
// ?wait=): the relay, a LimitedWaiter, a FleetWaiter.
type Waiter interface {
	Wait(ctx context.Context, id string) (sidecar.Event, bool)
}

// FleetWaiter waits for an event's final state whoever delivers it, for a
// store that a fleet shares: this sidecar's relay (Local) tells at once,
// and the store (Events), read every FleetPoll, tells when another sidecar
// did.
type FleetWaiter struct {
	Local  Waiter
	Events EventReader
}

// Wait returns the event once its delivery ends in a final state, or false
// when ctx ends first or Local gives up.
func (w FleetWaiter) Wait(ctx context.Context, id string) (sidecar.Event, bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		e  sidecar.Event
		ok bool
	}
	local := make(chan answer, 1)
	go func() { e, ok := w.Local.Wait(ctx, id); local <- answer{e, ok} }()
	t := time.NewTicker(FleetPoll)
	defer t.Stop()
	for {
		select {
		case a := <-local:
			return a.e, a.ok
		case <-t.C:
			if e, _, err := w.Events.Get(ctx, id); err == nil && e.State != sidecar.StateQueued {
				return e, true
			}
		}
	}
}
