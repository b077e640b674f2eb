package relay

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
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
		{time.Second, time.Second - margin},         // nothing left: no time at all, the request is not written
	} {
		if got := r.sendTimeout(sidecar.Event{LeaseUntil: now.Add(tc.left)}); got != tc.want {
			t.Errorf("%v of the lease left: a request of %v, want %v", tc.left, got, tc.want)
		}
	}
}

// A worker that stalled between the fence and the request (its lease run
// out meanwhile, another sidecar sending the event) writes no request: it
// gets no moment to send in.
func TestARequestWhoseLeaseRanOutIsNotWritten(t *testing.T) {
	var got atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer up.Close()
	now := time.Now()
	r := &Relay{opts: Options{RequestTimeout: 10 * time.Second, lease: 25 * time.Second}, url: up.URL + ConversionPath,
		client: newClient(1, 10*time.Second), clock: fixedClock{now}}
	// One request first, so that a kept-alive connection is there to write on at once.
	if a := r.post(sidecar.Event{LeaseUntil: now.Add(time.Minute), Conversion: sidecar.Conversion{ClickID: "warm"}}); a.status != http.StatusCreated {
		t.Fatalf("warm-up: %+v", a)
	}
	a := r.post(sidecar.Event{LeaseUntil: now.Add(time.Second), Conversion: sidecar.Conversion{ClickID: "stalled"}})
	if got.Load() != 1 || a.status != 0 {
		t.Fatalf("%d requests reached the upstream (want the warm-up's alone), answer %+v", got.Load(), a)
	}
}
