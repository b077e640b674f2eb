package relay_test

import (
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// The tests run in parallel (they mostly wait on the upstream, backoff and
// polls) but four: those on a clock thousands of times the wall's
// (fastClock), and the one whose lease is 100 ms longer than the upstream's
// answer, whose real waits a CPU busy with other tests would stretch.

// newWallClock is a clock at the wall's pace from now, which a test moves
// ahead (jump) to prove that a thing never happens or happens only later:
// rather than sleeping for "longer than any retry interval here" and
// hoping, it moves the relay's and the outbox's time past every retry time.
func newWallClock() *fastClock {
	now := time.Now()
	return &fastClock{base: now, real: now, speed: 1}
}

// jump moves the clock d ahead at once. Waits already begun end at their
// own pace; the relay reads the new time at its next look, which Notify
// (harness.add) brings at once.
func (c *fastClock) jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = c.base.Add(d)
}

// pastEveryRetry is how far lookLater moves the clock: far beyond every
// retry interval and Retry-After of these tests, short of their max age.
const pastEveryRetry = 10 * time.Minute

// lookLater returns the finished event id as it stands once the relay has
// had every chance to send it again: the clock (the relay's and the
// outbox's, startAt) is moved past every retry time, and a new event is
// claimed and delivered. An event due by then would have been claimed no
// later than that one (claims go in the order events fall due), which
// counts an attempt and takes a lease.
func (h *harness) lookLater(t *testing.T, clk *fastClock, id string) (sidecar.Event, []sidecar.Attempt) {
	t.Helper()
	clk.jump(pastEveryRetry)
	if e, _ := h.await(t, h.add(t, sidecar.Conversion{ClickID: "later-" + id})); e.State != sidecar.StateDelivered {
		t.Fatalf("the event added after the clock moved on: %s, want delivered", e.State)
	}
	e, attempts := h.await(t, id)
	return e, attempts
}
