package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// clickKeeper is what corroborating browser calls needs of a store:
// cmd/sidecar asserts it.
type clickKeeper interface {
	ClickKey(ctx context.Context) ([]byte, error)
	ClickLandedFrom(ctx context.Context, clickID string, since time.Time) ([]string, error)
}

// The click key is made once and is the same for every handle on the
// database (a restart, another sidecar of the fleet); the landings of a
// click id are found by id and time.
func testTheClickKeyIsOnePerDatabaseAndLandingsAreFoundByClickID(t *testing.T, h Harness) {
	clk := newClock()
	db := h.NewDB(t)
	a, ok := h.Open(t, db, clk.now).(clickKeeper)
	if !ok {
		t.Fatal("the store keeps no click key")
	}
	b := h.Open(t, db, clk.now).(clickKeeper)
	ka, err := a.ClickKey(ctx)
	if err != nil || len(ka) < sidecar.ClickKeySize {
		t.Fatalf("click key: %d bytes, %v", len(ka), err)
	}
	if kb, err := b.ClickKey(ctx); err != nil || !bytes.Equal(ka, kb) {
		t.Errorf("another handle's click key differs (%v): a fleet would refuse its own cookies", err)
	}
	o := a.(sidecar.Store)
	now := clk.now()
	o.RecordClicks(ctx, []sidecar.Click{
		{ClickID: "c-1", At: now.Add(-2 * time.Hour), IP: "198.51.100.1"},
		{ClickID: "c-1", At: now, IP: "2001:db8::1"},
		{ClickID: "c-2", At: now, IP: "203.0.113.9"},
	}, 1000)
	ips, err := b.ClickLandedFrom(ctx, "c-1", now.Add(-time.Hour))
	if err != nil || len(ips) != 1 || ips[0] != "2001:db8::1" {
		t.Errorf("landings of c-1 in the last hour: %v %v; want 2001:db8::1 alone", ips, err)
	}
}
