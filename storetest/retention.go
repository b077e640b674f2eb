package storetest

import (
	"fmt"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// The bounded click log, and the erasure of personal data after GLP_RETENTION.

func testRecordClicksKeepsTheNewestAndOnlyTopLevelLandingsMatch(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	now := clk.now()
	pruned := 0
	for b := 0; b < 5; b++ {
		var batch []sidecar.Click
		for i := 0; i < 10; i++ {
			batch = append(batch, sidecar.Click{ClickID: fmt.Sprintf("c-%d-%d", b, i), At: now, IP: "203.0.113.1", UserAgent: "UA", TopLevel: i%2 == 0})
		}
		n, err := o.RecordClicks(ctx, batch, 25)
		if err != nil {
			t.Fatal(err)
		}
		pruned += n
	}
	clicks, err := o.Clicks(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(clicks) != 25 || pruned != 25 || clicks[0].ClickID != "c-4-9" || clicks[24].ClickID != "c-2-5" {
		t.Fatalf("%d clicks kept (newest %v), %d pruned: want the newest 25 and 25 pruned", len(clicks), clicks[0], pruned)
	}
	if !clicks[1].TopLevel || clicks[0].TopLevel {
		t.Errorf("top-level flags as logged: %v %v", clicks[0].TopLevel, clicks[1].TopLevel)
	}
	id, ok, err := o.MatchClick(ctx, "203.0.113.1", "UA", now.Add(-time.Hour))
	if err != nil || !ok || id != "c-4-8" {
		t.Errorf("matched %q %v %v, want the newest top-level landing c-4-8", id, ok, err)
	}
}

func testRetentionAlsoErasesSessionTokensAndUpstreamAnswers(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	c := conv(1)
	c.Conversion.SessionToken = "sess-erase-me"
	done, _ := o.Append(ctx, c)
	kept, _ := o.Append(ctx, conv(2))
	o.Claim(ctx, 2, time.Minute)
	answer := `{"status":"ok","echo":"pat@example.com sess-erase-me"}`
	o.Record(ctx, sidecar.Result{EventID: done.ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: 1, Status: 201, Body: answer, Outcome: "delivered"}})
	o.Record(ctx, sidecar.Result{EventID: kept.ID, State: sidecar.StateQueued, NextAttemptAt: clk.now(), Attempt: sidecar.Attempt{N: 1, Status: 503, Body: answer, Outcome: "retry"}})
	if e, attempts, _ := o.Get(ctx, done.ID); e.LastBody != answer || len(attempts) != 1 || attempts[0].Body != answer {
		t.Fatalf("before retention the answer is kept: %q %+v", e.LastBody, attempts)
	}
	clk.advance(31 * 24 * time.Hour)
	if n, err := o.Retain(ctx, 30*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("erased %d %v", n, err)
	}
	e, attempts, _ := o.Get(ctx, done.ID)
	if e.Conversion.SessionToken != "" || e.LastBody != "" || len(attempts) != 1 || attempts[0].Body != "" || attempts[0].Status != 201 {
		t.Errorf("after retention: session token %q, last body %q, attempts %+v", e.Conversion.SessionToken, e.LastBody, attempts)
	}
	if e, attempts, _ := o.Get(ctx, kept.ID); e.Erased || e.LastBody != answer || attempts[0].Body != answer {
		t.Errorf("an unfinished event was erased: %+v %+v", e, attempts)
	}
}

// A full click log makes room from the range that holds the most: a flood
// from many /64s of one IPv6 /48 trims its own landings, never those of
// other ranges; the bound holds.
func testAFloodFromOneRangeNeverPushesOutOtherRangesLandings(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	const keep = 200
	var real []string
	for b := 0; b < 20; b++ {
		var batch []sidecar.Click
		for i := 0; i < 50; i++ {
			batch = append(batch, sidecar.Click{ClickID: fmt.Sprintf("flood-%d-%d", b, i), At: clk.now(),
				IP: fmt.Sprintf("2001:db8:1:%x::1", b*50+i), UserAgent: "flood", TopLevel: true})
		}
		id := fmt.Sprintf("real-%d", b)
		ip := fmt.Sprintf("198.51.%d.7", b) // a /24 of its own
		if b%2 == 1 {
			ip = fmt.Sprintf("2001:db8:%x::7", 100+b) // a /48 of its own
		}
		batch = append(batch, sidecar.Click{ClickID: id, At: clk.now(), IP: ip, UserAgent: "real", TopLevel: true})
		real = append(real, id)
		if _, err := o.RecordClicks(ctx, batch, keep); err != nil {
			t.Fatal(err)
		}
	}
	clicks, err := o.Clicks(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(clicks) > keep {
		t.Errorf("%d clicks kept: the bound is %d", len(clicks), keep)
	}
	kept := map[string]bool{}
	for _, c := range clicks {
		kept[c.ClickID] = true
	}
	for _, id := range real {
		if !kept[id] {
			t.Errorf("the real landing %s was pushed out by a flood from another range", id)
		}
	}
}
