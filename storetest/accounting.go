package storetest

import (
	"fmt"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// The accounting: what GLP Winner may hold after every lost
// answer, and the reconciliation report.

func testALeaseThatRunsOutCountsAsAnAttemptThatMayHaveLanded(t *testing.T, h Harness) {
	c := newClock()
	o := h.fresh(t, c.now)
	crashed, _ := o.Append(ctx, conv(1))
	released, _ := o.Append(ctx, conv(2))
	evs, err := o.Claim(ctx, 2, time.Minute)
	if err != nil || len(evs) != 2 || evs[0].MayHaveLanded || evs[1].MayHaveLanded {
		t.Fatalf("first claim: %+v %v", evs, err)
	}
	for _, e := range evs {
		if e.ID == released.ID {
			if err := o.Release(ctx, e.Lease()); err != nil { // given back unsent
				t.Fatal(err)
			}
		}
	}
	c.advance(2 * time.Minute) // the other's holder died: its lease runs out
	evs, err = o.Claim(ctx, 2, time.Minute)
	if err != nil || len(evs) != 2 {
		t.Fatalf("second claim: %+v %v", evs, err)
	}
	for _, e := range evs {
		if want := e.ID == crashed.ID; e.MayHaveLanded != want {
			t.Errorf("%s: may have landed %v, want %v", e.ID, e.MayHaveLanded, want)
		}
	}
	// A lease that ran out is counted when the event goes dead, too.
	c.advance(2 * time.Minute)
	if ids, err := o.ExpireDead(ctx, time.Minute); err != nil || len(ids) != 2 {
		t.Fatalf("expire: %v %v", ids, err)
	}
	for _, id := range []string{crashed.ID, released.ID} {
		if e, _, _ := o.Get(ctx, id); !e.MayHaveLanded || !e.LeaseUntil.IsZero() {
			t.Errorf("%s dead: may have landed %v, lease %v", id, e.MayHaveLanded, e.LeaseUntil)
		}
	}
}

func testASoftMatchedEventWhoseLeasesRanOutTwiceGoesDeadFlaggedAsAPossibleDouble(t *testing.T, h Harness) {
	c := newClock()
	o := h.fresh(t, c.now)
	soft, _ := o.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{Email: "pat@example.com"}})
	direct, _ := o.Append(ctx, conv(1))
	for i := 0; i < 2; i++ { // claimed, and the process dies with the request maybe written; twice
		if evs, err := o.Claim(ctx, 2, time.Minute); err != nil || len(evs) != 2 {
			t.Fatalf("claim %d: %v %v", i, evs, err)
		}
		c.advance(2 * time.Minute)
	}
	if ids, err := o.ExpireDead(ctx, time.Minute); err != nil || len(ids) != 2 {
		t.Fatalf("expire: %v %v", ids, err)
	}
	for id, want := range map[string]bool{soft.ID: true, direct.ID: false} {
		if e, _, _ := o.Get(ctx, id); e.State != sidecar.StateDead || e.Landed != 2 || e.PossibleDouble != want {
			t.Errorf("%s: %s, landed %d, possible double %v (want %v)", id, e.State, e.Landed, e.PossibleDouble, want)
		}
	}
	if st, _ := o.Stats(ctx); st.PossibleDouble != 1 {
		t.Errorf("stats: %d possible doubles", st.PossibleDouble)
	}
}

func testARecordKeepsWhatTheAnswerToldAboutWhatGLPWinnerHolds(t *testing.T, h Harness) {
	c := newClock()
	o := h.fresh(t, c.now)
	lost, _ := o.Append(ctx, conv(1))
	refused, _ := o.Append(ctx, conv(2))
	o.Claim(ctx, 2, time.Minute)
	// The first attempt of one was written and its answer lost; the other drew a 403 alone.
	if err := o.Record(ctx, sidecar.Result{EventID: lost.ID, State: sidecar.StateQueued, NextAttemptAt: c.now(),
		Attempt: sidecar.Attempt{N: 1, Error: "answer lost", Outcome: "retry", MayHaveLanded: true}}); err != nil {
		t.Fatal(err)
	}
	if err := o.Record(ctx, sidecar.Result{EventID: refused.ID, State: sidecar.StateQueued, NextAttemptAt: c.now(), RefusedAlone: true,
		Attempt: sidecar.Attempt{N: 1, Status: 403, Outcome: "retry"}}); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Second)
	evs, err := o.Claim(ctx, 2, time.Minute)
	if err != nil || len(evs) != 2 {
		t.Fatalf("claim again: %+v %v", evs, err)
	}
	for _, e := range evs {
		checkClaimedAgain(t, e, e.ID == lost.ID, c.now().Add(-time.Second))
	}
	if err := o.Record(ctx, sidecar.Result{EventID: lost.ID, State: sidecar.StateDelivered, PossibleDouble: true,
		Attempt: sidecar.Attempt{N: 2, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	e, attempts, err := o.Get(ctx, lost.ID)
	if err != nil || e.State != sidecar.StateDelivered || !e.PossibleDouble || !e.MayHaveLanded || e.Landed != 1 {
		t.Fatalf("delivered after a lost answer: %+v %v", e, err)
	}
	if len(attempts) != 2 || !attempts[0].MayHaveLanded || attempts[1].MayHaveLanded || attempts[0].Repeats != 1 {
		t.Errorf("attempts: %+v", attempts)
	}
	if st, _ := o.Stats(ctx); st.PossibleDouble != 1 {
		t.Errorf("stats: %d possible doubles", st.PossibleDouble)
	}
}

// claimTwice claims the event, lets the lease run out (its holder stalled)
// and claims it again: the first claim and the second, which holds it now.
func claimTwice(t *testing.T, o sidecar.Store, c *clock) (first, second sidecar.Event) {
	t.Helper()
	evs, err := o.Claim(ctx, 1, time.Minute)
	if err != nil || len(evs) != 1 {
		t.Fatalf("first claim: %+v %v", evs, err)
	}
	c.advance(2 * time.Minute)
	again, err := o.Claim(ctx, 1, time.Minute)
	if err != nil || len(again) != 1 || again[0].Landed != 1 {
		t.Fatalf("second claim: %+v %v; want the event, its first attempt counted as one that may have landed", again, err)
	}
	return evs[0], again[0]
}

func testALateRecordLeavesTheEventToTheClaimThatHoldsIt(t *testing.T, h Harness) {
	c := newClock()
	o := h.fresh(t, c.now)
	a, _ := o.Append(ctx, conv(1))
	first, second := claimTwice(t, o, c)
	// The first holder's answer comes in now: a 201.
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, LeaseUntil: first.LeaseUntil,
		Upstream: sidecar.Upstream{ConversionID: "glp-1"}, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	e, attempts, err := o.Get(ctx, a.ID)
	if err != nil || e.State != sidecar.StateQueued || !e.LeaseUntil.Equal(second.LeaseUntil) || e.Upstream.ConversionID != "glp-1" || e.Landed != 1 || len(attempts) != 1 {
		t.Fatalf("after the late record: %s, lease %v (want %v), conversion %q, landed %d, %d attempts, %v; want the second claim's lease kept and the 201's conversion id",
			e.State, e.LeaseUntil, second.LeaseUntil, e.Upstream.ConversionID, e.Landed, len(attempts), err)
	}
	// The holder's answer: GLP Winner already has it.
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, LeaseUntil: second.LeaseUntil,
		Attempt: sidecar.Attempt{N: 2, Status: 200, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	e, attempts, _ = o.Get(ctx, a.ID)
	if e.State != sidecar.StateDelivered || !e.LeaseUntil.IsZero() || e.Upstream.ConversionID != "glp-1" || e.LastStatus != 200 || len(attempts) != 2 {
		t.Errorf("after the holder's record: %s, lease %v, conversion %q, last status %d, %d attempts", e.State, e.LeaseUntil, e.Upstream.ConversionID, e.LastStatus, len(attempts))
	}
	// A record under a lease that ran out, the event claimed by nobody since, is the holder's.
	b, _ := o.Append(ctx, conv(2))
	evs, _ := o.Claim(ctx, 1, time.Minute)
	c.advance(2 * time.Minute)
	if err := o.Record(ctx, sidecar.Result{EventID: b.ID, State: sidecar.StateDelivered, LeaseUntil: evs[0].LeaseUntil,
		Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := o.Get(ctx, b.ID); e.State != sidecar.StateDelivered {
		t.Errorf("a record after its lease ran out, nobody else holding the event: %s", e.State)
	}
}

func testALate201MakesTheEventDeliveredWhicheverRecordComesFirst(t *testing.T, h Harness) {
	c := newClock()
	o := h.fresh(t, c.now)
	a, _ := o.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{Email: "pat@example.com"}})
	first, second := claimTwice(t, o, c)
	// The second holder drew a 422 after the first's attempt may have landed: unconfirmed.
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateUnconfirmed, LeaseUntil: second.LeaseUntil,
		Attempt: sidecar.Attempt{N: 2, Status: 422, Outcome: "unconfirmed"}}); err != nil {
		t.Fatal(err)
	}
	// Then the first holder's 201 comes in: GLP Winner holds it, maybe twice.
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, LeaseUntil: first.LeaseUntil, PossibleDouble: true,
		Upstream: sidecar.Upstream{ConversionID: "glp-1"}, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	e, attempts, err := o.Get(ctx, a.ID)
	if err != nil || e.State != sidecar.StateDelivered || e.Upstream.ConversionID != "glp-1" || !e.PossibleDouble || len(attempts) != 2 {
		t.Errorf("after a late 201: %s, conversion %q, possible double %v, %d attempts, %v", e.State, e.Upstream.ConversionID, e.PossibleDouble, len(attempts), err)
	}

	// The other order: the late 201 comes while the holder's request is in
	// flight, then the holder draws a 422.
	b, _ := o.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{Email: "sam@example.com"}})
	first, second = claimTwice(t, o, c)
	if err := o.Record(ctx, sidecar.Result{EventID: b.ID, State: sidecar.StateDelivered, LeaseUntil: first.LeaseUntil,
		Upstream: sidecar.Upstream{ConversionID: "glp-2"}, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	if err := o.Record(ctx, sidecar.Result{EventID: b.ID, State: sidecar.StateUnconfirmed, LeaseUntil: second.LeaseUntil,
		Attempt: sidecar.Attempt{N: 2, Status: 422, Outcome: "unconfirmed"}}); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := o.Get(ctx, b.ID); e.State != sidecar.StateDelivered || e.Upstream.ConversionID != "glp-2" || !e.LeaseUntil.IsZero() || e.LastStatus != 422 {
		t.Errorf("a 422 after a late 201: %s, conversion %q, lease %v, last status %d; want delivered", e.State, e.Upstream.ConversionID, e.LeaseUntil, e.LastStatus)
	}
}

// checkClaimedAgain checks what a claim tells of an event's last attempt:
// an answer lost after the request was written (lost), or a 403 drawn alone
// at refusedAt.
func checkClaimedAgain(t *testing.T, e sidecar.Event, lost bool, refusedAt time.Time) {
	t.Helper()
	if lost {
		if !e.MayHaveLanded || e.Landed != 1 || e.RefusedAlone != 0 {
			t.Errorf("the lost answer's event, claimed: %+v", e)
		}
		return
	}
	if e.MayHaveLanded || e.RefusedAlone != 1 || !e.LastRefusedAt.Equal(refusedAt) {
		t.Errorf("the refused event, claimed: landed %v, refused %d at %v", e.MayHaveLanded, e.RefusedAlone, e.LastRefusedAt)
	}
}

func testAPausedRelaysProbesCollapseIntoFewAttemptRows(t *testing.T, h Harness) {
	c := newClock()
	o := h.fresh(t, c.now)
	a, _ := o.Append(ctx, conv(1))
	probe := func(body string) {
		t.Helper()
		if _, err := o.ClaimProbe(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateQueued, NextAttemptAt: c.now().Add(time.Minute), Uncounted: true,
			Attempt: sidecar.Attempt{N: 1, StartedAt: c.now(), Status: 401, Body: body, Outcome: "paused"}}); err != nil {
			t.Fatal(err)
		}
		c.advance(time.Minute)
	}
	for i := 0; i < 3; i++ {
		probe("bad token")
	}
	e, attempts, err := o.Get(ctx, a.ID)
	if err != nil || len(attempts) != 1 || attempts[0].Repeats != 3 || !attempts[0].LastAt.Equal(c.now().Add(-time.Minute)) || e.Attempts != 0 {
		t.Fatalf("three identical probes: %d counted, rows %+v %v; want one row standing for 3", e.Attempts, attempts, err)
	}
	for i := 0; i < 12; i++ { // every answer differs
		probe(fmt.Sprintf("bad token %d", i))
	}
	_, attempts, _ = o.Get(ctx, a.ID)
	repeats := 0
	for _, at := range attempts {
		repeats += at.Repeats
	}
	if len(attempts) != 10 || repeats != 15 || attempts[9].Body != "bad token 11" {
		t.Errorf("15 probes, 13 answers: %d rows standing for %d, the last %q; want 10 rows for 15, the last answer kept", len(attempts), repeats, attempts[len(attempts)-1].Body)
	}
}

func testUnconfirmedEventsAreCountedApartAndRetryableByHand(t *testing.T, h Harness) {
	o := h.fresh(t, nil)
	a, _ := o.Append(ctx, conv(1))
	b, _ := o.Append(ctx, conv(2))
	o.Claim(ctx, 2, time.Minute)
	for _, id := range []string{a.ID, b.ID} {
		if err := o.Record(ctx, sidecar.Result{EventID: id, State: sidecar.StateUnconfirmed, Attempt: sidecar.Attempt{N: 1, Status: 422, Outcome: "unconfirmed"}}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := o.Stats(ctx)
	if st.States[sidecar.StateUnconfirmed] != 2 || st.States[sidecar.StateRejected] != 0 {
		t.Fatalf("stats %v", st.States)
	}
	if list, _ := o.List(ctx, sidecar.StateUnconfirmed, "", 10); len(list) != 2 {
		t.Fatalf("list unconfirmed: %d", len(list))
	}
	if n, err := o.Retry(ctx, a.ID); err != nil || n != 1 {
		t.Fatalf("retry one: %d %v", n, err)
	}
	if n, err := o.RetryState(ctx, sidecar.StateUnconfirmed); err != nil || n != 1 {
		t.Fatalf("retry state: %d %v", n, err)
	}
	if st, _ := o.Stats(ctx); st.States[sidecar.StateQueued] != 2 {
		t.Fatalf("after retries %v", st.States)
	}
}

// finish claims the event and records its final state, flagged a possible
// double when double.
func finish(t *testing.T, o sidecar.Store, id string, st sidecar.State, up sidecar.Upstream, double bool) {
	t.Helper()
	if _, err := o.Claim(ctx, 100, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := o.Record(ctx, sidecar.Result{EventID: id, State: st, Upstream: up, PossibleDouble: double, Attempt: sidecar.Attempt{N: 1, Outcome: string(st)}}); err != nil {
		t.Fatal(err)
	}
}

func testTheReportCountsEachDayByStateLiveApartFromTest(t *testing.T, h Harness) {
	c := newClock() // 2026-11-01 12:00 UTC
	o := h.fresh(t, c.now)
	states := []sidecar.State{sidecar.StateDelivered, sidecar.StateDelivered, sidecar.StateDelivered, sidecar.StateDelivered, sidecar.StateDelivered,
		sidecar.StateRejected, sidecar.StateRejected, sidecar.StateDuplicate}
	for i, st := range states {
		a, _ := o.Append(ctx, conv(i))
		finish(t, o, a.ID, st, sidecar.Upstream{ConversionID: fmt.Sprintf("glp-%d", i)}, i == 0)
	}
	test, _ := o.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: "t"}, Test: true})
	finish(t, o, test.ID, sidecar.StateDelivered, sidecar.Upstream{ConversionID: "glp-test"}, false)
	c.advance(11*time.Hour + 59*time.Minute) // 23:59 UTC, 00:59 in Berlin the next day
	o.Append(ctx, conv(100))
	c.advance(2 * time.Minute) // the next day in UTC
	o.Append(ctx, conv(101))

	q, err := sidecar.ParseReportQuery("2026-11-01", "2026-11-02", "", false, c.now())
	if err != nil {
		t.Fatal(err)
	}
	days, err := o.Report(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want := []sidecar.ReportDay{
		{Day: "2026-11-01", Accepted: 9, Delivered: 5, Rejected: 2, Duplicate: 1, Queued: 1, PossibleDouble: 1},
		{Day: "2026-11-02", Accepted: 1, Queued: 1},
	}
	for i := range want {
		want[i].Start, want[i].End = days[i].Start, days[i].End
	}
	if fmt.Sprint(days) != fmt.Sprint(want) {
		t.Errorf("live:\n got %+v\nwant %+v", days, want)
	}
	q.Test = true
	if days, _ := o.Report(ctx, q); days[0].Accepted != 1 || days[0].Delivered != 1 || days[1].Accepted != 0 {
		t.Errorf("test: %+v", days)
	}
	q, _ = sidecar.ParseReportQuery("2026-11-01", "2026-11-02", "Europe/Berlin", false, c.now())
	if days, _ := o.Report(ctx, q); days[0].Accepted != 8 || days[1].Accepted != 2 {
		t.Errorf("in Berlin: %+v", days)
	}
	checkReportRows(t, o, states, c.now())
}

// checkReportRows checks the rows of the report test's first day: the
// finished events in the order they were accepted, the test event, and the
// one queued at 23:59; and that fn's error ends the walk.
func checkReportRows(t *testing.T, o sidecar.Store, states []sidecar.State, now time.Time) {
	t.Helper()
	var rows []sidecar.ReportRow
	q, _ := sidecar.ParseReportQuery("2026-11-01", "2026-11-01", "", false, now)
	if err := o.ReportRows(ctx, q, func(r sidecar.ReportRow) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 { // the eight, the test event and the one queued at 23:59
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows[:len(states)] {
		want := sidecar.ReportRow{State: states[i], GLPConversionID: fmt.Sprintf("glp-%d", i), ConversionID: fmt.Sprintf("order-%d", i),
			GLPClickID: fmt.Sprintf("click-%d", i), AcceptedAt: newClock().now(), PossibleDouble: i == 0}
		if r.State != want.State || r.GLPConversionID != want.GLPConversionID || r.ConversionID != want.ConversionID ||
			r.GLPClickID != want.GLPClickID || r.Test || !r.AcceptedAt.Equal(want.AcceptedAt) || r.PossibleDouble != want.PossibleDouble {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	if !rows[8].Test || rows[9].State != sidecar.StateQueued || !rows[9].FinishedAt.IsZero() {
		t.Errorf("the test event and the queued one: %+v", rows[8:])
	}
	stop := fmt.Errorf("enough")
	calls := 0
	if err := o.ReportRows(ctx, q, func(sidecar.ReportRow) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("fn's error: %v after %d rows; want it returned after one", err, calls)
	}
}
