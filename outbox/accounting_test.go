package outbox_test

import (
	"fmt"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/outbox"
)

func TestALeaseThatRunsOutCountsAsAnAttemptThatMayHaveLanded(t *testing.T) {
	c := newClock()
	o := open(t, outbox.Options{Now: c.now})
	crashed, _ := o.Append(ctx, conv(1))
	released, _ := o.Append(ctx, conv(2))
	if evs, err := o.Claim(ctx, 2, time.Minute); err != nil || len(evs) != 2 || evs[0].MayHaveLanded || evs[1].MayHaveLanded {
		t.Fatalf("first claim: %+v %v", evs, err)
	}
	if err := o.Release(ctx, released.ID); err != nil { // given back unsent
		t.Fatal(err)
	}
	c.advance(2 * time.Minute) // the other's holder died: its lease runs out
	evs, err := o.Claim(ctx, 2, time.Minute)
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

func TestASoftMatchedEventWhoseLeasesRanOutTwiceGoesDeadFlaggedAsAPossibleDouble(t *testing.T) {
	c := newClock()
	o := open(t, outbox.Options{Now: c.now})
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

func TestUnconfirmedEventsAreCountedApartAndRetryableByHand(t *testing.T) {
	o := open(t, outbox.Options{})
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

// finish claims the event and records its final state.
func finish(t *testing.T, o *outbox.Outbox, id string, st sidecar.State, up sidecar.Upstream) {
	t.Helper()
	if _, err := o.Claim(ctx, 100, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := o.Record(ctx, sidecar.Result{EventID: id, State: st, Upstream: up, Attempt: sidecar.Attempt{N: 1, Outcome: string(st)}}); err != nil {
		t.Fatal(err)
	}
}

func TestTheReportCountsEachDayByStateLiveApartFromTest(t *testing.T) {
	c := newClock() // 2026-11-01 12:00 UTC
	o := open(t, outbox.Options{Now: c.now})
	states := []sidecar.State{sidecar.StateDelivered, sidecar.StateDelivered, sidecar.StateDelivered, sidecar.StateDelivered, sidecar.StateDelivered,
		sidecar.StateRejected, sidecar.StateRejected, sidecar.StateDuplicate}
	for i, st := range states {
		a, _ := o.Append(ctx, conv(i))
		finish(t, o, a.ID, st, sidecar.Upstream{ConversionID: fmt.Sprintf("glp-%d", i)})
	}
	test, _ := o.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: "t"}, Test: true})
	finish(t, o, test.ID, sidecar.StateDelivered, sidecar.Upstream{ConversionID: "glp-test"})
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
		{Day: "2026-11-01", Accepted: 9, Delivered: 5, Rejected: 2, Duplicate: 1, Queued: 1},
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

	var rows []sidecar.ReportRow
	q, _ = sidecar.ParseReportQuery("2026-11-01", "2026-11-01", "", false, c.now())
	if err := o.ReportRows(ctx, q, func(r sidecar.ReportRow) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 { // the eight, the test event and the one queued at 23:59
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows[:8] {
		if r.State != states[i] || r.GLPConversionID != fmt.Sprintf("glp-%d", i) || r.ConversionID != fmt.Sprintf("order-%d", i) || r.Test {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	if !rows[8].Test || rows[9].State != sidecar.StateQueued || !rows[9].FinishedAt.IsZero() {
		t.Errorf("the test event and the queued one: %+v", rows[8:])
	}
}
