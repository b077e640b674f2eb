// Package storetest is the contract test suite of sidecar.Store: every
// store (the SQLite file, PostgreSQL) runs it from its own tests, as
// litestream and River test their drivers, so that the rest of the sidecar
// may not care which one it runs on.
//
// To extend the contract, add a method to sidecar.Store, a test function
// here taking (t, Harness), and a line in Run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Harness is how the suite makes databases and opens stores on them.
type Harness struct {
	// NewDB makes a fresh, empty database for t: a file's path, a URL.
	NewDB func(t *testing.T) string
	// Open opens the store on db with the clock now (nil: time.Now) and
	// closes it when t ends. Two calls with one db are two handles on the
	// same database, as two processes would have them.
	Open func(t *testing.T, db string, now func() time.Time) sidecar.Store
}

func (h Harness) fresh(t *testing.T, now func() time.Time) sidecar.Store {
	t.Helper()
	return h.Open(t, h.NewDB(t), now)
}

// Run runs every test of the contract against the store h opens.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"AppendStoresOnceAndAnswersDuplicateForTheSameKey", testAppendStoresOnceAndAnswersDuplicateForTheSameKey},
		{"ConcurrentAppendsOfOneKeyStoreOneEvent", testConcurrentAppendsOfOneKeyStoreOneEvent},
		{"AKeyAcceptedThroughOneHandleIsADuplicateThroughAnother", testAKeyAcceptedThroughOneHandleIsADuplicateThroughAnother},
		{"ClaimLeasesDueEventsUntilTheLeaseExpires", testClaimLeasesDueEventsUntilTheLeaseExpires},
		{"ClaimersOnTwoHandlesNeverHoldOneEventAtOnce", testClaimersOnTwoHandlesNeverHoldOneEventAtOnce},
		{"ClaimProbeTakesTheFirstDueEventDueOrNotUnlessLeased", testClaimProbeTakesTheFirstDueEventDueOrNotUnlessLeased},
		{"RecordKeepsEachAttemptAndTheOutcome", testRecordKeepsEachAttemptAndTheOutcome},
		{"ReleaseAndRetry", testReleaseAndRetry},
		{"AStaleHoldersReleaseChangesNothing", testAStaleHoldersReleaseChangesNothing},
		{"AStaleHoldersRecordDoesNotEndTheEventTheNewHolderHolds", testAStaleHoldersRecordDoesNotEndTheEventTheNewHolderHolds},
		{"RetryOfSeveralEventsIsAllOrNone", testRetryOfSeveralEventsIsAllOrNone},
		{"ResetBackoffMakesWaitingEventsDueButLeavesLeasedOnes", testResetBackoffMakesWaitingEventsDueButLeavesLeasedOnes},
		{"ExpireDeadTakesEventsPastTheMaxAgeButNotLeasedOnes", testExpireDeadTakesEventsPastTheMaxAgeButNotLeasedOnes},
		{"RetentionErasesEmailAndIPOfFinishedEvents", testRetentionErasesEmailAndIPOfFinishedEvents},
		{"PurgeDeletesOldDeliveredEventsAndForgetsTheirKeys", testPurgeDeletesOldDeliveredEventsAndForgetsTheirKeys},
		{"TheClickLogIsSharedAndMatchesTheLatestClickOfAVisitor", testTheClickLogIsSharedAndMatchesTheLatestClickOfAVisitor},
		{"ConcurrentWritersClaimersAndReadersNeverSeeLocked", testConcurrentWritersClaimersAndReadersNeverSeeLocked},
		{"ListPagesNewestFirst", testListPagesNewestFirst},
		{"StatsCountEveryStateAndTheOldestQueued", testStatsCountEveryStateAndTheOldestQueued},
		{"AWritableStoreSaysSo", testAWritableStoreSaysSo},
		{"ListenReturnsNilOnceItsContextEnds", testListenReturnsNilOnceItsContextEnds},

		{"ALeaseThatRunsOutCountsAsAnAttemptThatMayHaveLanded", testALeaseThatRunsOutCountsAsAnAttemptThatMayHaveLanded},
		{"ASoftMatchedEventWhoseLeasesRanOutTwiceGoesDeadFlaggedAsAPossibleDouble", testASoftMatchedEventWhoseLeasesRanOutTwiceGoesDeadFlaggedAsAPossibleDouble},
		{"ARecordKeepsWhatTheAnswerToldAboutWhatGLPWinnerHolds", testARecordKeepsWhatTheAnswerToldAboutWhatGLPWinnerHolds},
		{"ALateRecordLeavesTheEventToTheClaimThatHoldsIt", testALateRecordLeavesTheEventToTheClaimThatHoldsIt},
		{"ALate201MakesTheEventDeliveredWhicheverRecordComesFirst", testALate201MakesTheEventDeliveredWhicheverRecordComesFirst},
		{"APausedRelaysProbesCollapseIntoFewAttemptRows", testAPausedRelaysProbesCollapseIntoFewAttemptRows},
		{"UnconfirmedEventsAreCountedApartAndRetryableByHand", testUnconfirmedEventsAreCountedApartAndRetryableByHand},
		{"TheReportCountsEachDayByStateLiveApartFromTest", testTheReportCountsEachDayByStateLiveApartFromTest},
		{"RecordClicksKeepsTheNewestAndOnlyTopLevelLandingsMatch", testRecordClicksKeepsTheNewestAndOnlyTopLevelLandingsMatch},
		{"AFloodFromOneRangeNeverPushesOutOtherRangesLandings", testAFloodFromOneRangeNeverPushesOutOtherRangesLandings},
		{"TheClickKeyIsOnePerDatabaseAndLandingsAreFoundByClickID", testTheClickKeyIsOnePerDatabaseAndLandingsAreFoundByClickID},
		{"RetentionAlsoErasesSessionTokensAndUpstreamAnswers", testRetentionAlsoErasesSessionTokensAndUpstreamAnswers},
		{"TextOfAnyBytesIsKeptByEveryStore", testTextOfAnyBytesIsKeptByEveryStore},
		{"RetryTakesEachIDOnceAndNeverAnErasedEvent", testRetryTakesEachIDOnceAndNeverAnErasedEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func conv(i int) sidecar.NewEvent {
	return sidecar.NewEvent{
		Key:        fmt.Sprintf("order-%d", i),
		Conversion: sidecar.Conversion{ClickID: fmt.Sprintf("click-%d", i), Email: "pat@example.com", IP: "203.0.113.9", ConversionID: fmt.Sprintf("order-%d", i)},
	}
}

var ctx = context.Background()

func testAppendStoresOnceAndAnswersDuplicateForTheSameKey(t *testing.T, h Harness) {
	o := h.fresh(t, nil)
	first, err := o.Append(ctx, conv(1))
	if err != nil || first.Duplicate || first.ID == "" {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, err := o.Append(ctx, conv(1))
	if err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("again: %+v %v; want duplicate of %s", again, err, first.ID)
	}
	noKey := sidecar.NewEvent{Conversion: sidecar.Conversion{Email: "a@example.com"}}
	a, _ := o.Append(ctx, noKey)
	b, _ := o.Append(ctx, noKey)
	if a.Duplicate || b.Duplicate || a.ID == b.ID {
		t.Errorf("events without a key are never duplicates: %+v %+v", a, b)
	}
	st, err := o.Stats(ctx)
	if err != nil || st.States[sidecar.StateQueued] != 3 {
		t.Errorf("stats %+v %v", st, err)
	}
	e, attempts, err := o.Get(ctx, first.ID)
	if err != nil || e.Conversion != conv(1).Conversion || e.State != sidecar.StateQueued || len(attempts) != 0 {
		t.Errorf("get: %+v %v %v", e, attempts, err)
	}
}

func testConcurrentAppendsOfOneKeyStoreOneEvent(t *testing.T, h Harness) {
	o := h.fresh(t, nil)
	var wg sync.WaitGroup
	ids := make(chan sidecar.Appended, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := o.Append(ctx, conv(7))
			if err != nil {
				t.Error(err)
			}
			ids <- a
		}()
	}
	wg.Wait()
	close(ids)
	fresh, seen := 0, map[string]bool{}
	for a := range ids {
		seen[a.ID] = true
		if !a.Duplicate {
			fresh++
		}
	}
	if fresh != 1 || len(seen) != 1 {
		t.Errorf("%d stored, %d distinct ids; want 1 and 1", fresh, len(seen))
	}
}

func testClaimLeasesDueEventsUntilTheLeaseExpires(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	for i := 0; i < 3; i++ {
		e := conv(i)
		e.Test, e.ClickSource = true, "cookie"
		if _, err := o.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := o.Claim(ctx, 2, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim: %d %v", len(got), err)
	}
	if got[0].Attempts != 1 || got[0].LeaseUntil.IsZero() {
		t.Errorf("a claimed event counts an attempt and carries a lease: %+v", got[0])
	}
	// A claimed event is the stored one, less its key and last outcome.
	stored, _, err := o.Get(ctx, got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Key = ""
	if got[0] != stored {
		t.Errorf("claimed %+v\nstored  %+v", got[0], stored)
	}
	rest, _ := o.Claim(ctx, 10, time.Minute)
	if len(rest) != 1 {
		t.Fatalf("the unleased event: %d", len(rest))
	}
	if none, _ := o.Claim(ctx, 10, time.Minute); len(none) != 0 {
		t.Fatalf("leased events were claimed again: %d", len(none))
	}
	clk.advance(61 * time.Second) // the holder crashed; its leases run out
	again, _ := o.Claim(ctx, 10, time.Minute)
	if len(again) != 3 || again[0].Attempts != 2 {
		t.Fatalf("after the lease: %d events, attempts %d", len(again), again[0].Attempts)
	}
}

func testRecordKeepsEachAttemptAndTheOutcome(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	a, _ := o.Append(ctx, conv(1))
	ev, _ := o.Claim(ctx, 1, time.Minute)
	next := clk.now().Add(5 * time.Second)
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateQueued, NextAttemptAt: next,
		Attempt: sidecar.Attempt{N: ev[0].Attempts, StartedAt: clk.now(), Status: 503, Error: "upstream 503", Outcome: "retry"}}); err != nil {
		t.Fatal(err)
	}
	if due, _ := o.Claim(ctx, 1, time.Minute); len(due) != 0 {
		t.Fatal("an event scheduled for later was claimed now")
	}
	clk.advance(5 * time.Second)
	ev, _ = o.Claim(ctx, 1, time.Minute)
	if len(ev) != 1 {
		t.Fatal("the retry did not come due")
	}
	up := sidecar.Upstream{ConversionID: "c-uuid", ClickID: "click-1", RecordedAt: "2026-11-01T12:00:05Z"}
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, Upstream: up,
		Attempt: sidecar.Attempt{N: ev[0].Attempts, StartedAt: clk.now(), Status: 201, Body: `{"status":"ok"}`, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	e, attempts, err := o.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != sidecar.StateDelivered || e.Upstream != up || e.LastStatus != 201 || e.FinishedAt.IsZero() || !e.LeaseUntil.IsZero() {
		t.Errorf("event %+v", e)
	}
	if len(attempts) != 2 || attempts[0].Status != 503 || attempts[1].Outcome != "delivered" {
		t.Errorf("attempts %+v", attempts)
	}
}

func testReleaseAndRetry(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	a, _ := o.Append(ctx, conv(1))
	ev, _ := o.Claim(ctx, 1, time.Hour)
	if err := o.Release(ctx, ev[0].Lease()); err != nil {
		t.Fatal(err)
	}
	ev, _ = o.Claim(ctx, 1, time.Hour)
	if len(ev) != 1 || ev[0].Attempts != 1 {
		t.Fatalf("a released event is due at once and its attempt is not counted: %+v", ev)
	}
	if _, err := o.Retry(ctx, a.ID); !errors.Is(err, sidecar.ErrNotRetryable) {
		t.Errorf("retrying a queued event: %v", err)
	}
	o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateRejected, Attempt: sidecar.Attempt{N: 1, Status: 422, Outcome: "rejected"}})
	if n, err := o.Retry(ctx, a.ID); n != 1 || err != nil {
		t.Fatalf("retry: %d %v", n, err)
	}
	if _, err := o.Retry(ctx, "no-such-id"); sidecar.ErrorCode(err) != sidecar.ENotFound {
		t.Errorf("retry of a missing id: %v", err)
	}
	ev, _ = o.Claim(ctx, 1, time.Hour)
	o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDead, Attempt: sidecar.Attempt{N: ev[0].Attempts, Outcome: "dead"}})
	if n, err := o.RetryState(ctx, sidecar.StateDead); n != 1 || err != nil {
		t.Errorf("retry dead: %d %v", n, err)
	}
	if _, err := o.RetryState(ctx, sidecar.StateDelivered); err == nil {
		t.Error("delivered events were retried")
	}
}

func testExpireDeadTakesEventsPastTheMaxAgeButNotLeasedOnes(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	leased, _ := o.Append(ctx, conv(1))
	waiting, _ := o.Append(ctx, conv(2))
	if ev, _ := o.Claim(ctx, 1, 100*time.Hour); len(ev) != 1 || ev[0].ID != leased.ID {
		t.Fatal("claim order")
	}
	clk.advance(71 * time.Hour)
	if ids, _ := o.ExpireDead(ctx, 72*time.Hour); len(ids) != 0 {
		t.Fatalf("expired before the max age: %v", ids)
	}
	clk.advance(time.Hour)
	ids, err := o.ExpireDead(ctx, 72*time.Hour)
	if err != nil || len(ids) != 1 || ids[0] != waiting.ID {
		t.Fatalf("expired %v %v; want only %s", ids, err, waiting.ID)
	}
	if e, _, _ := o.Get(ctx, leased.ID); e.State != sidecar.StateQueued {
		t.Errorf("an event in delivery was dead-lettered: %s", e.State)
	}
	if n, err := o.RestartAge(ctx); n != 1 || err != nil {
		t.Fatalf("restart age: %d %v", n, err)
	}
	clk.advance(100 * time.Hour) // the lease is over; the age counts from the restart
	if ids, _ := o.ExpireDead(ctx, 72*time.Hour); len(ids) != 1 {
		t.Errorf("after a restart and 100h: %v", ids)
	}
}

func testRetentionErasesEmailAndIPOfFinishedEvents(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	done, _ := o.Append(ctx, conv(1))
	waiting, _ := o.Append(ctx, conv(2))
	o.Claim(ctx, 1, time.Minute)
	o.Record(ctx, sidecar.Result{EventID: done.ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}})
	clk.advance(31 * 24 * time.Hour)
	n, err := o.Retain(ctx, 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("erased %d %v", n, err)
	}
	e, _, _ := o.Get(ctx, done.ID)
	if e.Conversion.Email != "" || e.Conversion.IP != "" || !e.Erased || e.Conversion.ClickID != "click-1" {
		t.Errorf("finished event after retention: %+v", e)
	}
	if w, _, _ := o.Get(ctx, waiting.ID); w.Conversion.Email == "" {
		t.Error("a queued event lost its email")
	}
}

func testConcurrentWritersClaimersAndReadersNeverSeeLocked(t *testing.T, h Harness) {
	o := h.fresh(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := o.Append(ctx, conv(w*1000+i)); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				evs, err := o.Claim(ctx, 8, time.Minute)
				if err != nil {
					errs <- err
				}
				for _, e := range evs {
					if err := o.Record(ctx, sidecar.Result{EventID: e.ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: e.Attempts, Status: 201, Outcome: "delivered"}}); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := o.Stats(ctx); err != nil {
					errs <- err
				}
				if _, err := o.List(ctx, "", "", 20); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("under concurrency: %v", err)
	}
	st, _ := o.Stats(ctx)
	if total := st.States[sidecar.StateQueued] + st.States[sidecar.StateDelivered]; total != 800 {
		t.Errorf("%d events, want 800", total)
	}
}

func testListPagesNewestFirst(t *testing.T, h Harness) {
	o := h.fresh(t, nil)
	var ids []string
	for i := 0; i < 5; i++ {
		a, _ := o.Append(ctx, conv(i))
		ids = append(ids, a.ID)
	}
	page, _ := o.List(ctx, "", "", 2)
	if len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] {
		t.Fatalf("first page %v", page)
	}
	next, _ := o.List(ctx, "", page[1].ID, 10)
	if len(next) != 3 || next[0].ID != ids[2] {
		t.Errorf("second page %d", len(next))
	}
	if q, _ := o.List(ctx, sidecar.StateDead, "", 0); len(q) != 0 {
		t.Errorf("dead: %d", len(q))
	}
}

func testAKeyAcceptedThroughOneHandleIsADuplicateThroughAnother(t *testing.T, h Harness) {
	db := h.NewDB(t)
	a, b := h.Open(t, db, nil), h.Open(t, db, nil)
	first, err := a.Append(ctx, conv(1))
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Append(ctx, conv(1))
	if err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("through the other handle: %+v %v; want a duplicate of %s", again, err, first.ID)
	}
}

// Two handles claim from one database at once, as two sidecars would: no
// event is held by both, and every event is claimed once.
func testClaimersOnTwoHandlesNeverHoldOneEventAtOnce(t *testing.T, h Harness) {
	db := h.NewDB(t)
	handles := []sidecar.Store{h.Open(t, db, nil), h.Open(t, db, nil)}
	const events = 400
	for i := 0; i < events; i++ {
		if _, err := handles[i%2].Append(ctx, conv(i)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(s sidecar.Store) {
			defer wg.Done()
			for {
				evs, err := s.Claim(ctx, 5, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(evs) == 0 {
					return
				}
				mu.Lock()
				for _, e := range evs {
					claimed[e.ID]++
				}
				mu.Unlock()
			}
		}(handles[w%2])
	}
	wg.Wait()
	if len(claimed) != events {
		t.Errorf("%d events claimed, want %d", len(claimed), events)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("event %s claimed %d times under one lease", id, n)
		}
	}
}

func testClaimProbeTakesTheFirstDueEventDueOrNotUnlessLeased(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	a, _ := o.Append(ctx, conv(1))
	b, _ := o.Append(ctx, conv(2))
	ev, _ := o.Claim(ctx, 2, time.Minute)
	if len(ev) != 2 {
		t.Fatalf("claim: %d", len(ev))
	}
	later := clk.now().Add(time.Hour)
	for i, id := range []string{a.ID, b.ID} {
		o.Record(ctx, sidecar.Result{EventID: id, State: sidecar.StateQueued, NextAttemptAt: later.Add(time.Duration(i) * time.Minute),
			Attempt: sidecar.Attempt{N: 1, Status: 503, Outcome: "retry"}})
	}
	if due, _ := o.Claim(ctx, 2, time.Minute); len(due) != 0 {
		t.Fatalf("events due in an hour were claimed: %d", len(due))
	}
	probe, err := o.ClaimProbe(ctx, time.Minute)
	if err != nil || len(probe) != 1 || probe[0].ID != a.ID || probe[0].Attempts != 2 {
		t.Fatalf("probe: %+v %v; want %s, the first due", probe, err, a.ID)
	}
	next, _ := o.ClaimProbe(ctx, time.Minute)
	if len(next) != 1 || next[0].ID != b.ID {
		t.Fatalf("second probe: %+v; want %s, the first one being leased", next, b.ID)
	}
	if none, _ := o.ClaimProbe(ctx, time.Minute); len(none) != 0 {
		t.Errorf("a probe took a leased event: %+v", none)
	}
}

func testRetryOfSeveralEventsIsAllOrNone(t *testing.T, h Harness) {
	o := h.fresh(t, nil)
	rejected, _ := o.Append(ctx, conv(1))
	queued, _ := o.Append(ctx, conv(2))
	o.Claim(ctx, 1, time.Minute)
	o.Record(ctx, sidecar.Result{EventID: rejected.ID, State: sidecar.StateRejected, Attempt: sidecar.Attempt{N: 1, Status: 422, Outcome: "rejected"}})
	if _, err := o.Retry(ctx, rejected.ID, queued.ID); sidecar.ErrorCode(err) != sidecar.EConflict || !errors.Is(err, sidecar.ErrNotRetryable) {
		t.Fatalf("retry of a rejected and a queued event: %v; want a conflict", err)
	}
	if e, _, _ := o.Get(ctx, rejected.ID); e.State != sidecar.StateRejected {
		t.Errorf("a refused retry requeued %s: %s", rejected.ID, e.State)
	}
	if n, err := o.Retry(ctx, rejected.ID); n != 1 || err != nil {
		t.Errorf("retry: %d %v", n, err)
	}
}

func testResetBackoffMakesWaitingEventsDueButLeavesLeasedOnes(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	waiting, _ := o.Append(ctx, conv(1))
	o.Append(ctx, conv(2))
	ev, _ := o.Claim(ctx, 2, time.Hour)
	if len(ev) != 2 {
		t.Fatalf("claim: %d", len(ev))
	}
	o.Record(ctx, sidecar.Result{EventID: waiting.ID, State: sidecar.StateQueued, NextAttemptAt: clk.now().Add(10 * time.Minute),
		Attempt: sidecar.Attempt{N: 1, Status: 503, Outcome: "retry"}})
	next, ok, err := o.NextDue(ctx)
	if err != nil || !ok || !next.Equal(clk.now().Add(10*time.Minute)) {
		t.Errorf("next due: %v %v %v; want in 10 minutes (the leased one is due in an hour)", next, ok, err)
	}
	n, err := o.ResetBackoff(ctx)
	if err != nil || n != 1 {
		t.Fatalf("reset backoff: %d %v; want 1, the leased event left alone", n, err)
	}
	due, _ := o.Claim(ctx, 2, time.Hour)
	if len(due) != 1 || due[0].ID != waiting.ID {
		t.Errorf("after the reset: %+v; want %s alone", due, waiting.ID)
	}
}

func testPurgeDeletesOldDeliveredEventsAndForgetsTheirKeys(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	done, _ := o.Append(ctx, conv(1))
	rejected, _ := o.Append(ctx, conv(2))
	o.Claim(ctx, 2, time.Minute)
	o.Record(ctx, sidecar.Result{EventID: done.ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}})
	o.Record(ctx, sidecar.Result{EventID: rejected.ID, State: sidecar.StateRejected, Attempt: sidecar.Attempt{N: 1, Status: 422, Outcome: "rejected"}})
	clk.advance(time.Hour)
	if n, err := o.Purge(ctx, 2*time.Hour); n != 0 || err != nil {
		t.Fatalf("purge of nothing old enough: %d %v", n, err)
	}
	n, err := o.Purge(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("purge: %d %v; want 1 (the delivered event)", n, err)
	}
	if _, _, err := o.Get(ctx, done.ID); sidecar.ErrorCode(err) != sidecar.ENotFound {
		t.Errorf("the purged event: %v", err)
	}
	if again, err := o.Append(ctx, conv(1)); err != nil || again.Duplicate {
		t.Errorf("the purged event's key: %+v %v; want a new event", again, err)
	}
	if e, _, err := o.Get(ctx, rejected.ID); err != nil || e.State != sidecar.StateRejected {
		t.Errorf("the rejected event: %+v %v", e, err)
	}
}

func testTheClickLogIsSharedAndMatchesTheLatestClickOfAVisitor(t *testing.T, h Harness) {
	clk := newClock()
	db := h.NewDB(t)
	a, b := h.Open(t, db, clk.now), h.Open(t, db, clk.now)
	at := clk.now()
	clicks := []sidecar.Click{
		{ClickID: "old", At: at.Add(-2 * time.Hour), IP: "203.0.113.9", UserAgent: "UA", TopLevel: true},
		{ClickID: "new", At: at.Add(-time.Hour), IP: "203.0.113.9", UserAgent: "UA", Path: "/landing", Referrer: "https://aff.example/", UTM: map[string]string{"utm_source": "aff"}, TopLevel: true},
		{ClickID: "other-ua", At: at, IP: "203.0.113.9", UserAgent: "Other", TopLevel: true},
	}
	for _, c := range clicks {
		if err := a.RecordClick(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	id, ok, err := b.MatchClick(ctx, "203.0.113.9", "UA", at.Add(-3*time.Hour))
	if err != nil || !ok || id != "new" {
		t.Errorf("match through the other handle: %q %v %v; want new", id, ok, err)
	}
	if _, ok, _ := b.MatchClick(ctx, "203.0.113.9", "UA", at.Add(-30*time.Minute)); ok {
		t.Error("a click older than the window matched")
	}
	if _, ok, _ := b.MatchClick(ctx, "198.51.100.1", "UA", at.Add(-3*time.Hour)); ok {
		t.Error("another address matched")
	}
	got, err := b.Clicks(ctx, 2)
	if err != nil || len(got) != 2 || got[0].ClickID != "other-ua" || got[1].ClickID != "new" {
		t.Fatalf("latest clicks: %+v %v", got, err)
	}
	if want := clicks[1]; !got[1].At.Equal(want.At) || got[1].Path != want.Path || got[1].Referrer != want.Referrer || got[1].UTM["utm_source"] != "aff" {
		t.Errorf("click as stored %+v, want %+v", got[1], want)
	}
}

func testStatsCountEveryStateAndTheOldestQueued(t *testing.T, h Harness) {
	clk := newClock()
	o := h.fresh(t, clk.now)
	st, err := o.Stats(ctx)
	if err != nil || len(st.States) != len(sidecar.States()) || !st.OldestQueued.IsZero() {
		t.Fatalf("empty: %+v %v; want every state at 0", st, err)
	}
	if _, ok, err := o.NextDue(ctx); ok || err != nil {
		t.Errorf("next due of an empty store: %v %v", ok, err)
	}
	first, _ := o.Append(ctx, conv(1))
	clk.advance(time.Minute)
	o.Append(ctx, conv(2))
	o.Append(ctx, conv(3))
	o.Claim(ctx, 1, time.Minute)
	o.Record(ctx, sidecar.Result{EventID: first.ID, State: sidecar.StateDead, Attempt: sidecar.Attempt{N: 1, Outcome: "dead"}})
	st, err = o.Stats(ctx)
	if err != nil || st.States[sidecar.StateQueued] != 2 || st.States[sidecar.StateDead] != 1 || st.States[sidecar.StateDelivered] != 0 {
		t.Fatalf("stats %+v %v", st, err)
	}
	if !st.OldestQueued.Equal(clk.now()) || !st.NextDue.Equal(clk.now()) {
		t.Errorf("oldest queued %v, next due %v; want both %v", st.OldestQueued, st.NextDue, clk.now())
	}
}

func testAWritableStoreSaysSo(t *testing.T, h Harness) {
	o := h.fresh(t, nil)
	if err := o.Writable(ctx); err != nil {
		t.Errorf("writable: %v", err)
	}
	if err := o.LastWriteError(); err != nil {
		t.Errorf("last write error: %v", err)
	}
}

func testListenReturnsNilOnceItsContextEnds(t *testing.T, h Harness) {
	o := h.fresh(t, nil)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- o.Listen(lctx, func() {}) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Listen returned before its context ended: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("listen: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Listen still runs 10 s after its context ended")
	}
}
