package storetest

import (
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Fencing: a record or a release is the holder's of the event's current
// lease (sidecar.Lease names it). A stale holder (its lease ran out and
// another claim took the event) changes nothing of what the new holder
// holds.

func testAStaleHoldersReleaseChangesNothing(t *testing.T, h Harness) {
	c := newClock()
	o := h.fresh(t, c.now)
	a, _ := o.Append(ctx, conv(1))
	first, second := claimTwice(t, o, c)
	if err := o.Release(ctx, first.Lease()); err != nil {
		t.Fatal(err)
	}
	e, _, err := o.Get(ctx, a.ID)
	if err != nil || e.State != sidecar.StateQueued || !e.LeaseUntil.Equal(second.LeaseUntil) || e.Attempts != second.Attempts {
		t.Fatalf("after the stale holder's release: %s, lease %v (want %v), %d attempts (want %d), %v",
			e.State, e.LeaseUntil, second.LeaseUntil, e.Attempts, second.Attempts, err)
	}
	if evs, err := o.Claim(ctx, 1, time.Minute); err != nil || len(evs) != 0 {
		t.Fatalf("a claim while the new holder holds the event: %+v %v; want nothing", evs, err)
	}
	// A release naming no lease is nobody's.
	if err := o.Release(ctx, sidecar.Lease{EventID: a.ID}); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := o.Get(ctx, a.ID); !e.LeaseUntil.Equal(second.LeaseUntil) {
		t.Fatalf("a release naming no lease cleared the holder's: lease %v", e.LeaseUntil)
	}
	// The holder's own release gives it back, its attempt uncounted.
	if err := o.Release(ctx, second.Lease()); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := o.Get(ctx, a.ID); !e.LeaseUntil.IsZero() || e.Attempts != second.Attempts-1 {
		t.Errorf("after the holder's release: lease %v, %d attempts; want none, %d", e.LeaseUntil, e.Attempts, second.Attempts-1)
	}
	// Once recorded, a release by the claim that recorded it changes nothing.
	evs, _ := o.Claim(ctx, 1, time.Minute)
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, LeaseUntil: evs[0].LeaseUntil,
		Attempt: sidecar.Attempt{N: evs[0].Attempts, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	if err := o.Release(ctx, evs[0].Lease()); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := o.Get(ctx, a.ID); e.State != sidecar.StateDelivered || !e.LeaseUntil.IsZero() {
		t.Errorf("a release after the record: %s, lease %v", e.State, e.LeaseUntil)
	}
}

func testAStaleHoldersRecordDoesNotEndTheEventTheNewHolderHolds(t *testing.T, h Harness) {
	c := newClock()
	o := h.fresh(t, c.now)
	a, _ := o.Append(ctx, conv(1))
	first, second := claimTwice(t, o, c)
	// The stale holder's answer would end the event: a refusal.
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateRejected, LeaseUntil: first.LeaseUntil,
		Attempt: sidecar.Attempt{N: first.Attempts, Status: 422, Outcome: "rejected"}}); err != nil {
		t.Fatal(err)
	}
	e, attempts, err := o.Get(ctx, a.ID)
	if err != nil || e.State != sidecar.StateQueued || !e.LeaseUntil.Equal(second.LeaseUntil) || !e.FinishedAt.IsZero() || len(attempts) != 1 || attempts[0].Status != 422 {
		t.Fatalf("after the stale holder's record: %s, lease %v (want %v), finished %v, %d attempts, %v; want the new holder's queued event, the attempt kept",
			e.State, e.LeaseUntil, second.LeaseUntil, e.FinishedAt, len(attempts), err)
	}
	// The new holder's record ends it.
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, LeaseUntil: second.LeaseUntil,
		Attempt: sidecar.Attempt{N: second.Attempts, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	if e, attempts, _ := o.Get(ctx, a.ID); e.State != sidecar.StateDelivered || !e.LeaseUntil.IsZero() || len(attempts) != 2 {
		t.Errorf("after the holder's record: %s, lease %v, %d attempts", e.State, e.LeaseUntil, len(attempts))
	}
}
