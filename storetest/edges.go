package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// What strangers and the upstream send is kept by every store, whatever its
// bytes: PostgreSQL's text refuses invalid UTF-8 and NUL bytes that SQLite
// takes, and a delivery that cannot be recorded is sent again and again.
func testTextOfAnyBytesIsKeptByEveryStore(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	a, _ := o.Append(ctx, conv(1))
	ev, _ := o.Claim(ctx, 1, time.Minute)
	body := strings.Repeat("a", sidecar.MaxStoredBody-1) + "é and more" // é straddles the cut
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered,
		Attempt: sidecar.Attempt{N: ev[0].Attempts, StartedAt: clk.now(), Status: 201, Error: "odd \xff\x00 text", Body: body, Outcome: "delivered"}}); err != nil {
		t.Fatalf("recording a 201 whose answer is cut inside a character: %v", err)
	}
	e, attempts, err := o.Get(ctx, a.ID)
	if err != nil || e.State != sidecar.StateDelivered || len(attempts) != 1 {
		t.Fatalf("after the record: %v %s %d attempts", err, e.State, len(attempts))
	}
	if !utf8.ValidString(e.LastBody) || !strings.HasSuffix(e.LastBody, "…") || !utf8.ValidString(attempts[0].Error) {
		t.Errorf("kept %q… and error %q, want valid text cut with …", e.LastBody[:20], attempts[0].Error)
	}
	clicks := []sidecar.Click{
		{ClickID: "good-1", At: clk.now(), IP: "203.0.113.5", UserAgent: "UA", Path: "/landing", TopLevel: true},
		{ClickID: "odd-1", At: clk.now(), IP: "203.0.113.6", UserAgent: "Latin-1 \xe9\x00", Path: "/\xff", Referrer: "https://r.example/\xfe",
			UTM: map[string]string{"utm_source": "x\xff"}, TopLevel: true},
	}
	if _, err := o.RecordClicks(ctx, clicks, 1000); err != nil {
		t.Fatalf("recording landings with odd bytes: %v", err)
	}
	kept, err := o.Clicks(ctx, 10)
	if err != nil || len(kept) != 2 {
		t.Fatalf("kept %d clicks, want 2: %v", len(kept), err)
	}
}

// An operator's retry: each id once, and never an event whose email, IP and
// session token retention erased (it would go out stripped of them).
func testRetryTakesEachIDOnceAndNeverAnErasedEvent(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	a, _ := o.Append(ctx, conv(1))
	o.Claim(ctx, 1, time.Minute)
	o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateRejected, Attempt: sidecar.Attempt{N: 1, Status: 422, Outcome: "rejected"}})
	if n, err := o.Retry(ctx, a.ID, a.ID); n != 1 || err != nil {
		t.Fatalf("retry of one id given twice: %d %v, want 1", n, err)
	}
	o.Claim(ctx, 1, time.Minute)
	o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateRejected, Attempt: sidecar.Attempt{N: 2, Status: 422, Outcome: "rejected"}})
	clk.advance(31 * 24 * time.Hour)
	if n, err := o.Retain(ctx, 30*24*time.Hour); n != 1 || err != nil {
		t.Fatalf("erased %d %v", n, err)
	}
	if _, err := o.Retry(ctx, a.ID); sidecar.ErrorCode(err) != sidecar.EConflict || !errors.Is(err, sidecar.ErrNotRetryable) {
		t.Errorf("retry of an erased event: %v, want a conflict", err)
	}
	if n, err := o.RetryState(ctx, sidecar.StateRejected); n != 0 || err != nil {
		t.Errorf("retry of every rejected event took %d erased ones: %v", n, err)
	}
	if e, _, _ := o.Get(ctx, a.ID); e.State != sidecar.StateRejected {
		t.Errorf("the erased event is %s", e.State)
	}
}
