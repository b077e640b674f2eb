package relay_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/relay"
)

// silent is a local relay that never delivers the event.
type silent struct{}

func (silent) Wait(ctx context.Context, id string) (sidecar.Event, bool) {
	<-ctx.Done()
	return sidecar.Event{}, false
}

// deliveredElsewhere is a shared store in which another sidecar delivers
// the event on the third read.
type deliveredElsewhere struct{ reads atomic.Int32 }

func (d *deliveredElsewhere) Get(ctx context.Context, id string) (sidecar.Event, []sidecar.Attempt, error) {
	if d.reads.Add(1) < 3 {
		return sidecar.Event{ID: id, State: sidecar.StateQueued}, nil, nil
	}
	return sidecar.Event{ID: id, State: sidecar.StateDelivered}, nil, nil
}

func TestAFleetWaiterAnswersWhenAnotherSidecarDeliveredTheEvent(t *testing.T) {
	store := &deliveredElsewhere{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, ok := relay.FleetWaiter{Local: silent{}, Events: store}.Wait(ctx, "e1")
	if !ok || e.State != sidecar.StateDelivered || store.reads.Load() != 3 {
		t.Errorf("got %v %s after %d reads; want delivered, read from the store", ok, e.State, store.reads.Load())
	}
}

func TestAFleetWaiterGivesUpWithItsCaller(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*relay.FleetPoll/2)
	defer cancel()
	if _, ok := (relay.FleetWaiter{Local: silent{}, Events: &deliveredElsewhere{}}).Wait(ctx, "e1"); ok {
		t.Error("answered before the event was delivered")
	}
}
