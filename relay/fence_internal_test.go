package relay

import (
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// A request's deadline never outlives its lease: it ends the margin before
// the lease does, however little is left.
func TestARequestsDeadlineEndsBeforeItsLease(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	r := &Relay{opts: Options{RequestTimeout: 10 * time.Second, lease: 25 * time.Second}, clock: fixedClock{now}}
	margin := r.leaseMargin()
	if margin != 2500*time.Millisecond || r.sendNeeds() != 12500*time.Millisecond {
		t.Fatalf("margin %v, needs %v", margin, r.sendNeeds())
	}
	for _, tc := range []struct {
		left, want time.Duration
	}{
		{25 * time.Second, 10 * time.Second},        // a fresh claim: the request timeout
		{11 * time.Second, 11*time.Second - margin}, // stalled after the check: cut to the lease less the margin
		{time.Second, time.Millisecond},             // nothing left: as good as cancelled
	} {
		if got := r.sendTimeout(sidecar.Event{LeaseUntil: now.Add(tc.left)}); got != tc.want {
			t.Errorf("%v of the lease left: a request of %v, want %v", tc.left, got, tc.want)
		}
	}
}
