package relay

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// queuedStore answers every Get with a queued event: a waiter waits.
type queuedStore struct{ Store }

func (queuedStore) Get(_ context.Context, id string) (sidecar.Event, []sidecar.Attempt, error) {
	return sidecar.Event{ID: id, State: sidecar.StateQueued}, nil, nil
}

func TestWaitersBeyondTheCapAreAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	r, err := New(Options{Store: queuedStore{}, Workers: 1, RequestTimeout: time.Second, RetryInitial: time.Second, RetryMaxInterval: time.Second, RetryMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var turnedAway atomic.Int32
	w := LimitWaiters(r, 1, func() { turnedAway.Add(1) })
	holding, release := context.WithCancel(context.Background())
	held := make(chan bool)
	go func() {
		_, ok := w.Wait(holding, "first")
		held <- ok
	}()
	for len(w.slots) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, ok := w.Wait(ctx, "second"); ok || ctx.Err() != nil {
		t.Fatalf("a waiter beyond a cap of 1: answered %v, its context %v; want false at once", ok, ctx.Err())
	}
	if n := turnedAway.Load(); n != 1 {
		t.Errorf("%d callers told turned away, want 1", n)
	}
	release()
	<-held
	finished := make(chan bool)
	go func() {
		_, ok := w.Wait(ctx, "second")
		finished <- ok
	}()
	for !waiting(r, "second") {
		time.Sleep(time.Millisecond)
	}
	r.waiters.finish(sidecar.Event{ID: "second", State: sidecar.StateDelivered})
	if !<-finished {
		t.Error("once the slot is free, a waiter waits for the answer again")
	}
}

func waiting(r *Relay, id string) bool {
	r.waiters.mu.Lock()
	defer r.waiters.mu.Unlock()
	return len(r.waiters.byID[id]) > 0
}
