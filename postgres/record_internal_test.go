package postgres

import (
	"context"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
)

// A late record and the record of the claim that took its event over can
// meet in one batch; each must be applied, in either order (one statement
// would apply only one of the two updates of the event's row).
func TestALateRecordAndTheHoldersInOneBatchAreBothApplied(t *testing.T) {
	for _, lateFirst := range []bool{true, false} {
		ctx := context.Background()
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s, err := Open(ctx, Options{URL: pgtest.URL(t), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a, err := s.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{Email: "pat@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		first, _ := s.Claim(ctx, 1, time.Second)
		now = now.Add(2 * time.Second)
		second, _ := s.Claim(ctx, 1, time.Second)
		if len(first) != 1 || len(second) != 1 {
			t.Fatalf("claims: %d then %d events", len(first), len(second))
		}
		late := &recordReq{r: sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, LeaseUntil: first[0].LeaseUntil,
			Upstream: sidecar.Upstream{ConversionID: "glp-1"}, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}}
		holder := &recordReq{r: sidecar.Result{EventID: a.ID, State: sidecar.StateUnconfirmed, LeaseUntil: second[0].LeaseUntil,
			Attempt: sidecar.Attempt{N: 2, Status: 422, Outcome: "unconfirmed"}}}
		batch := []*recordReq{late, holder}
		if !lateFirst {
			batch = []*recordReq{holder, late}
		}
		if err := s.recordBatch(batch); err != nil {
			t.Fatal(err)
		}
		// The holder's 422 ends the event unconfirmed; the late 201 proves
		// GLP Winner holds it: delivered, with its conversion id.
		e, attempts, err := s.Get(ctx, a.ID)
		if err != nil || e.State != sidecar.StateDelivered || !e.LeaseUntil.IsZero() || e.Upstream.ConversionID != "glp-1" || e.LastStatus != 422 || len(attempts) != 2 {
			t.Errorf("late first %v: %s, lease %v, conversion %q, last status %d, %d attempts, %v; want both records applied",
				lateFirst, e.State, e.LeaseUntil, e.Upstream.ConversionID, e.LastStatus, len(attempts), err)
		}
	}
}
