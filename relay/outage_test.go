package relay_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/mockglp"
	"github.com/glpwinner/glp-sidecar/relay"
)

// fastClock runs speed times faster than the wall clock: an outage of many
// minutes passes in well under a second, while the relay, the outbox and the
// mock do their real work over real HTTP.
type fastClock struct {
	mu         sync.Mutex
	base, real time.Time
	speed      float64
}

func newFastClock(speed float64) *fastClock {
	return &fastClock{base: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), real: time.Now(), speed: speed}
}

func (c *fastClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(time.Duration(float64(time.Since(c.real)) * c.speed))
}

func (c *fastClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.After(time.Duration(float64(d) / c.speed))
}

// setSpeed goes on from now at another speed: slower where a test measures
// a short simulated time that a loaded machine would stretch.
func (c *fastClock) setSpeed(speed float64) {
	now := c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.real, c.speed = now, time.Now(), speed
}

// until waits (in real time) until the clock has reached t.
func (c *fastClock) until(t time.Time) {
	if d := t.Sub(c.Now()); d > 0 {
		time.Sleep(time.Duration(float64(d)/c.speed) + time.Millisecond)
	}
}

func TestALongOutageSeesATrickleAndDrainsOnRecovery(t *testing.T) {
	clk := newFastClock(2000) // 20 minutes in 0.6 s
	u := newUpstream(t, clk.Now)
	h := startAt(t, u, u.URL, relay.Options{
		Workers: 8, RetryInitial: time.Second, RetryMaxInterval: 10 * time.Minute, RetryMaxAge: 72 * time.Hour,
	}, relay.Hooks{Lease: time.Hour, Clock: clk})
	u.fault(mockglp.Fault{Status: 503, Count: -1})
	start := clk.Now()
	var ids []string
	for i := 0; i < 200; i++ {
		ids = append(ids, h.add(t, sidecar.Conversion{ClickID: fmt.Sprintf("outage-%d", i), ConversionID: fmt.Sprintf("o-%d", i)}))
	}
	const outage = 20 * time.Minute
	clk.until(start.Add(outage))

	st, _ := h.box.Stats(context.Background())
	if st.States[sidecar.StateDead] != 0 || st.States[sidecar.StateQueued] != 200 {
		t.Fatalf("during the outage: %v", st.States)
	}
	if m := h.relay.Status().Mode; m != sidecar.RelayBackingOff {
		t.Errorf("mode %s during the outage", m)
	}
	calls := u.callTimes()
	perMinute := map[int]int{}
	for _, c := range calls {
		perMinute[int(c.Sub(start)/time.Minute)]++
	}
	var lines []string
	minutes := make([]int, 0, len(perMinute))
	for m := range perMinute {
		minutes = append(minutes, m)
	}
	sort.Ints(minutes)
	for _, m := range minutes {
		lines = append(lines, fmt.Sprintf("minute %2d: %d", m, perMinute[m]))
		if m >= 3 && perMinute[m] > 4 {
			t.Errorf("minute %d of the outage: %d calls, want a trickle", m, perMinute[m])
		}
	}
	if len(calls) > 8+60 {
		t.Errorf("%d calls in a 20-minute outage of 200 events", len(calls))
	}
	t.Logf("upstream calls per simulated minute during a 20-minute outage (200 events waiting):\n%s\ntotal %d", strings.Join(lines, "\n"), len(calls))

	// From here a minute is a second: at 2,000 times, the two minutes the
	// first delivery may take were 60 ms, which a loaded machine's
	// scheduling alone can stretch past.
	clk.setSpeed(60)
	u.fault(mockglp.Fault{})
	recovered := clk.Now()
	var firstOK time.Time
	for _, id := range ids {
		e, _ := h.await(t, id)
		if e.State != sidecar.StateDelivered {
			t.Errorf("%s: %s", id, e.State)
		}
		if firstOK.IsZero() || e.FinishedAt.Before(firstOK) {
			firstOK = e.FinishedAt
		}
	}
	if lag := firstOK.Sub(recovered); lag > 2*relay.MaxProbeInterval {
		t.Errorf("the first delivery came %v after recovery; the probe interval is at most %v", lag, relay.MaxProbeInterval)
	}
	if n := len(u.conversions(t)); n != 200 {
		t.Errorf("upstream recorded %d conversions, want 200", n)
	}
	t.Logf("recovery: first delivery %v (simulated) after the upstream came back", firstOK.Sub(recovered).Round(time.Second))
}

func TestAFailingUpstreamGetsOneProbeAtATimeWhileEventsKeepComing(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	u.fault(mockglp.Fault{Status: 503, Delay: mockglp.Duration(100 * time.Millisecond), Count: -1})
	var mu sync.Mutex
	var active, most, watched int
	var watching bool
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		active++
		if watching {
			most, watched = max(most, active), watched+1
		}
		mu.Unlock()
		u.mock.ServeHTTP(w, r)
		mu.Lock()
		active--
		mu.Unlock()
	}))
	defer counting.Close()
	h := startAt(t, u, counting.URL, relay.Options{RetryInitial: 5 * time.Millisecond, RetryMaxInterval: 20 * time.Millisecond}, relay.Hooks{})
	for i := 0; i < 8; i++ {
		h.add(t, sidecar.Conversion{ClickID: fmt.Sprintf("fan-%d", i)})
	}
	h.awaitMode(t, sidecar.RelayBackingOff)
	time.Sleep(500 * time.Millisecond) // the fan-out's last requests are answered
	mu.Lock()
	watching = true
	mu.Unlock()
	for i := 0; i < 100; i++ { // each new event wakes the dispatcher while a probe is out
		h.add(t, sidecar.Conversion{ClickID: fmt.Sprintf("more-%d", i)})
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 1 || watched < 3 {
		t.Errorf("while backing off: %d requests, at most %d at once; want probes one at a time", watched, most)
	}
}

func TestEventsGoDeadOnlyAfterTheMaxAge(t *testing.T) {
	clk := newFastClock(2000)
	u := newUpstream(t, clk.Now)
	const maxAge = 5 * time.Minute
	h := startAt(t, u, u.URL, relay.Options{
		RetryInitial: time.Second, RetryMaxInterval: time.Minute, RetryMaxAge: maxAge,
	}, relay.Hooks{Lease: time.Hour, Clock: clk})
	u.fault(mockglp.Fault{Status: 500, Count: -1})
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, h.add(t, sidecar.Conversion{ClickID: fmt.Sprintf("doomed-%d", i)}))
	}
	for _, id := range ids {
		e, _ := h.await(t, id)
		if e.State != sidecar.StateDead {
			t.Fatalf("%s: %s", id, e.State)
		}
		if age := e.FinishedAt.Sub(e.QueuedAt); age < maxAge {
			t.Errorf("dead after %v, before the max age %v", age, maxAge)
		}
	}
	// Retried by hand, their max age counts afresh: at 2,000 times it is
	// 150 ms of real time, which a loaded machine lets pass before the relay
	// sends them (they went dead again). At 20 times it is 15 s, and the
	// probes' minute is 3 s.
	clk.setSpeed(20)
	if n, err := h.box.RetryState(context.Background(), sidecar.StateDead); n != 10 || err != nil {
		t.Fatalf("retry dead: %d %v", n, err)
	}
	u.fault(mockglp.Fault{})
	h.relay.Notify()
	for _, id := range ids {
		if e, _ := h.await(t, id); e.State != sidecar.StateDelivered {
			t.Errorf("after a retry by hand: %s", e.State)
		}
	}
}

func TestTheRelayIsRunningOnceItsLastEventWentDead(t *testing.T) {
	clk := newFastClock(2000)
	u := newUpstream(t, clk.Now)
	h := startAt(t, u, u.URL, relay.Options{
		RetryInitial: time.Second, RetryMaxInterval: time.Minute, RetryMaxAge: 5 * time.Minute,
	}, relay.Hooks{Lease: time.Hour, Clock: clk})
	u.fault(mockglp.Fault{Status: 503, Count: -1})
	id := h.add(t, sidecar.Conversion{ClickID: "the-last-one"})
	h.awaitMode(t, sidecar.RelayBackingOff)
	if e, _ := h.await(t, id); e.State != sidecar.StateDead {
		t.Fatalf("%s, want dead", e.State)
	}
	// Nothing is left to deliver: within a probe's interval the relay says
	// so, rather than backing off with a next probe in the past.
	clk.until(clk.Now().Add(2 * relay.MaxProbeInterval))
	if st := h.relay.Status(); st.Mode != sidecar.RelayRunning || !st.NextProbe.IsZero() {
		t.Errorf("relay %+v after its last event went dead, want running with no probe due", st)
	}
	// The next event finds the upstream still failing: backing off again.
	h.add(t, sidecar.Conversion{ClickID: "the-next-one"})
	h.relay.Notify()
	h.awaitMode(t, sidecar.RelayBackingOff)
}

func TestTheRetryScheduleGrowsToTheMaximum(t *testing.T) {
	t.Parallel()
	r, err := relay.New(relay.Options{Store: nopStore{}, Workers: 1, RequestTimeout: time.Second,
		RetryInitial: time.Second, RetryMaxInterval: 10 * time.Minute, RetryMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for n := 1; n <= 12; n++ {
		nominal := min(time.Second<<(n-1), 10*time.Minute)
		lo, hi := time.Duration(float64(nominal)*0.5), time.Duration(float64(nominal)*1.5)
		for i := 0; i < 200; i++ {
			if d := r.RetryDelay(n); d < lo || d > hi {
				t.Fatalf("after attempt %d: %v, want within %v–%v", n, d, lo, hi)
			}
		}
		rows = append(rows, fmt.Sprintf("after attempt %2d: %v (±50%%: %v–%v)", n, nominal, lo, hi))
	}
	t.Logf("retry schedule with the defaults:\n%s", strings.Join(rows, "\n"))
}

// nopStore satisfies relay.Store for tests that never run the relay.
type nopStore struct{ relay.Store }
