package sidecar_test

import (
	"errors"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

var (
	t0    = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	lease = t0.Add(time.Minute)
	later = t0.Add(2 * time.Minute) // past the lease
)

// queued is an event as a claim left it: leased, its first attempt counted.
func queued(soft bool) sidecar.Event {
	e := sidecar.Event{ID: "e1", State: sidecar.StateQueued, Attempts: 1, LeaseUntil: lease, NextAttemptAt: lease, QueuedAt: t0, CreatedAt: t0,
		Conversion: sidecar.Conversion{ClickID: "click-1", ConversionID: "order-1"}}
	if soft {
		e.Conversion = sidecar.Conversion{Email: "pat@example.com", ConversionID: "order-1"}
	}
	return e
}

// landed is e after an earlier attempt that may have landed.
func landed(e sidecar.Event) sidecar.Event { e.Landed, e.MayHaveLanded = 1, true; return e }

func finished(e sidecar.Event, st sidecar.State) sidecar.Event {
	e.State, e.LeaseUntil, e.FinishedAt = st, time.Time{}, t0
	return e
}

// TestAnAnswerLeadsToItsFinalState is the list of final states, one row
// each: what an answer comes to, given what earlier attempts may have done.
func TestAnAnswerLeadsToItsFinalState(t *testing.T) {
	for _, tc := range []struct {
		name   string
		e      sidecar.Event
		reply  sidecar.Reply
		landed bool // this attempt may have landed
		want   sidecar.State
		double bool
	}{
		{"a 201 is delivered", queued(false), sidecar.ReplyCreated, false, sidecar.StateDelivered, false},
		{"a 200 duplicate with no earlier attempt that may have landed is a duplicate", queued(false), sidecar.ReplyDuplicate, false, sidecar.StateDuplicate, false},
		{"a 200 duplicate after an attempt of its own that may have landed is delivered", landed(queued(false)), sidecar.ReplyDuplicate, false, sidecar.StateDelivered, false},
		{"a refusal with no earlier attempt that may have landed is rejected", queued(false), sidecar.ReplyRefused, false, sidecar.StateRejected, false},
		{"a refusal after an attempt that may have landed is unconfirmed", landed(queued(false)), sidecar.ReplyRefused, false, sidecar.StateUnconfirmed, false},
		{"a failure stays queued", landed(queued(true)), sidecar.ReplyFailed, true, sidecar.StateQueued, false},
		{"a pausing answer stays queued", queued(false), sidecar.ReplyPaused, false, sidecar.StateQueued, false},
		{"a soft-matched 201 after an attempt that may have landed is a possible double", landed(queued(true)), sidecar.ReplyCreated, false, sidecar.StateDelivered, true},
		{"a soft-matched 201 on its first attempt is not", queued(true), sidecar.ReplyCreated, false, sidecar.StateDelivered, false},
		{"a 201 with a click id after an attempt that may have landed is not: the click dedups", landed(queued(false)), sidecar.ReplyCreated, false, sidecar.StateDelivered, false},
		{"a soft-matched refusal after two attempts that may have landed is a possible double", landed(queued(true)), sidecar.ReplyRefused, true, sidecar.StateUnconfirmed, true},
		{"a soft-matched duplicate after one attempt that may have landed is not", landed(queued(true)), sidecar.ReplyDuplicate, false, sidecar.StateDelivered, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, double := sidecar.Answered(tc.e, tc.reply, tc.landed)
			if st != tc.want || double != tc.double {
				t.Errorf("got %s, possible double %v; want %s, %v", st, double, tc.want, tc.double)
			}
		})
	}
}

// TestEachHappeningChangesTheEventByTheRules is the store's half: what a
// claim, a record (on time and late), a release, an operator's retry and
// the retry max age do to the event as it stands.
func TestEachHappeningChangesTheEventByTheRules(t *testing.T) {
	newLease := later.Add(time.Minute)
	rec := func(st sidecar.State, lease time.Time, f func(*sidecar.Result)) sidecar.Happening {
		r := sidecar.Result{EventID: "e1", State: st, LeaseUntil: lease, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: string(st)}}
		if f != nil {
			f(&r)
		}
		return sidecar.Happening{Kind: sidecar.Record, Result: r}
	}
	created := func(r *sidecar.Result) {
		r.Upstream = sidecar.Upstream{ConversionID: "glp-1", ClickID: "c", RecordedAt: "2026-11-01"}
	}
	relayed := queued(false)
	relayed.Upstream.ConversionID = "glp-0"
	retaken := relayed // a crash left the lease, and another claim took the event
	retaken.LeaseUntil, retaken.Attempts = newLease, 2
	for _, tc := range []struct {
		name    string
		e       sidecar.Event
		h       sidecar.Happening
		at      time.Time
		applies bool
		check   func(t *testing.T, e sidecar.Event)
	}{
		{"a claim leases a queued event, due at the lease's end, and counts an attempt", finished(queued(false), sidecar.StateQueued), sidecar.Happening{Kind: sidecar.Claim, Lease: newLease}, later, true,
			func(t *testing.T, e sidecar.Event) {
				if !e.LeaseUntil.Equal(newLease) || !e.NextAttemptAt.Equal(newLease) || e.Attempts != 2 || e.MayHaveLanded {
					t.Errorf("lease %v, next %v, attempts %d, landed %v", e.LeaseUntil, e.NextAttemptAt, e.Attempts, e.MayHaveLanded)
				}
			}},
		{"a lease run out after a crash counts, at the next claim, as an attempt that may have landed", queued(false), sidecar.Happening{Kind: sidecar.Claim, Lease: newLease}, later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.Landed != 1 || !e.MayHaveLanded || e.Attempts != 2 {
					t.Errorf("landed %d (%v), attempts %d", e.Landed, e.MayHaveLanded, e.Attempts)
				}
			}},
		{"a finished event is not claimed", finished(queued(false), sidecar.StateDelivered), sidecar.Happening{Kind: sidecar.Claim, Lease: newLease}, later, false, nil},
		{"a record from the lease's holder ends it delivered, with GLP Winner's ids", queued(false), rec(sidecar.StateDelivered, lease, created), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDelivered || !e.LeaseUntil.IsZero() || !e.FinishedAt.Equal(later) || e.Upstream.ConversionID != "glp-1" || e.LastStatus != 201 {
					t.Errorf("%s, lease %v, finished %v, upstream %+v, status %d", e.State, e.LeaseUntil, e.FinishedAt, e.Upstream, e.LastStatus)
				}
			}},
		{"a failure is queued again at the time the relay scheduled, unfinished", queued(false), rec(sidecar.StateQueued, lease, func(r *sidecar.Result) { r.NextAttemptAt = later.Add(time.Hour) }), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateQueued || !e.NextAttemptAt.Equal(later.Add(time.Hour)) || !e.FinishedAt.IsZero() || !e.LeaseUntil.IsZero() || e.Attempts != 1 {
					t.Errorf("%s, next %v, finished %v, lease %v, attempts %d", e.State, e.NextAttemptAt, e.FinishedAt, e.LeaseUntil, e.Attempts)
				}
			}},
		{"an attempt written and unanswered counts as one that may have landed", queued(false), rec(sidecar.StateQueued, lease, func(r *sidecar.Result) { r.Attempt.MayHaveLanded = true }), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.Landed != 1 || !e.MayHaveLanded || !e.NextAttemptAt.Equal(later) {
					t.Errorf("landed %d (%v), next %v", e.Landed, e.MayHaveLanded, e.NextAttemptAt)
				}
			}},
		{"a paused relay's probe does not count, and counts a refusal on the event", queued(false), rec(sidecar.StateQueued, lease, func(r *sidecar.Result) { r.Uncounted, r.RefusedAlone = true, true }), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.Attempts != 0 || e.RefusedAlone != 1 || !e.LastRefusedAt.Equal(later) {
					t.Errorf("attempts %d, refused %d at %v", e.Attempts, e.RefusedAlone, e.LastRefusedAt)
				}
			}},
		{"an event that holds GLP Winner's conversion id is delivered, not unconfirmed", relayed, rec(sidecar.StateUnconfirmed, lease, nil), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDelivered {
					t.Errorf("%s", e.State)
				}
			}},
		{"an event that holds GLP Winner's conversion id is delivered, not dead", relayed, rec(sidecar.StateDead, lease, nil), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDelivered {
					t.Errorf("%s", e.State)
				}
			}},
		{"a possible double is kept", queued(true), rec(sidecar.StateDelivered, lease, func(r *sidecar.Result) { r.PossibleDouble = true }), later, true,
			func(t *testing.T, e sidecar.Event) {
				if !e.PossibleDouble {
					t.Error("no possible double")
				}
			}},
		{"a late record leaves the state, schedule, lease and counts to the claim that holds the event", retaken, rec(sidecar.StateRejected, lease, func(r *sidecar.Result) { r.Attempt.Status, r.Attempt.MayHaveLanded = 422, true }), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateQueued || !e.LeaseUntil.Equal(newLease) || e.Attempts != 2 || e.Landed != 0 || e.LastStatus != 0 {
					t.Errorf("%s, lease %v, attempts %d, landed %d, status %d", e.State, e.LeaseUntil, e.Attempts, e.Landed, e.LastStatus)
				}
			}},
		{"a late 201 keeps what it proved: GLP Winner's ids and a possible double", retaken, rec(sidecar.StateDelivered, lease, func(r *sidecar.Result) { created(r); r.PossibleDouble = true }), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateQueued || e.Upstream.ConversionID != "glp-1" || !e.PossibleDouble || !e.LeaseUntil.Equal(newLease) {
					t.Errorf("%s, upstream %+v, possible double %v, lease %v", e.State, e.Upstream, e.PossibleDouble, e.LeaseUntil)
				}
			}},
		{"a late duplicate keeps nothing of GLP Winner's ids", retaken, rec(sidecar.StateDuplicate, lease, created), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.Upstream.ConversionID != "glp-0" || e.State != sidecar.StateQueued {
					t.Errorf("%s, upstream %+v", e.State, e.Upstream)
				}
			}},
		{"a late 201 turns an unconfirmed event delivered", finished(relayed, sidecar.StateUnconfirmed), rec(sidecar.StateDelivered, lease, created), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDelivered || e.Upstream.ConversionID != "glp-1" || !e.FinishedAt.Equal(t0) {
					t.Errorf("%s, upstream %+v, finished %v", e.State, e.Upstream, e.FinishedAt)
				}
			}},
		{"a late 201 turns a dead event delivered", finished(queued(false), sidecar.StateDead), rec(sidecar.StateDelivered, lease, created), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDelivered {
					t.Errorf("%s", e.State)
				}
			}},
		{"a claim of an event whose lease still runs changes nothing", retaken, sidecar.Happening{Kind: sidecar.Claim, Lease: newLease.Add(time.Minute)}, later, false, nil},
		{"a late 201 ends delivered an event waiting, unleased, for a retry", finished(relayed, sidecar.StateQueued), rec(sidecar.StateDelivered, lease, created), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDelivered || !e.FinishedAt.Equal(later) || e.Upstream.ConversionID != "glp-1" {
					t.Errorf("%s, finished %v, upstream %+v", e.State, e.FinishedAt, e.Upstream)
				}
			}},
		{"the holder's retry of an event a late 201 proved delivered ends it delivered", relayed, rec(sidecar.StateQueued, lease, func(r *sidecar.Result) { r.NextAttemptAt = later.Add(time.Hour) }), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDelivered || !e.FinishedAt.Equal(later) || !e.LeaseUntil.IsZero() {
					t.Errorf("%s, finished %v, lease %v", e.State, e.FinishedAt, e.LeaseUntil)
				}
			}},
		{"a late 201 leaves a rejected event as it is", finished(queued(false), sidecar.StateRejected), rec(sidecar.StateDelivered, lease, created), later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateRejected {
					t.Errorf("%s", e.State)
				}
			}},
		{"the holder's release gives the event back due now, its attempt uncounted", queued(false), sidecar.Happening{Kind: sidecar.Release, Lease: lease}, t0, true,
			func(t *testing.T, e sidecar.Event) {
				if !e.LeaseUntil.IsZero() || !e.NextAttemptAt.Equal(t0) || e.Attempts != 0 {
					t.Errorf("lease %v, next %v, attempts %d", e.LeaseUntil, e.NextAttemptAt, e.Attempts)
				}
			}},
		{"a finished event is not released", finished(queued(false), sidecar.StateDelivered), sidecar.Happening{Kind: sidecar.Release, Lease: lease}, t0, false, nil},
		{"a stale holder's release changes nothing", queued(false), sidecar.Happening{Kind: sidecar.Release, Lease: lease.Add(-time.Minute)}, t0, false, nil},
		{"a release naming no lease changes nothing", queued(false), sidecar.Happening{Kind: sidecar.Release}, t0, false, nil},
		{"an operator's retry requeues a dead event, due now, its max age afresh, its landed attempts still counted", finished(landed(queued(false)), sidecar.StateDead), sidecar.Happening{Kind: sidecar.Retry}, later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateQueued || !e.NextAttemptAt.Equal(later) || !e.QueuedAt.Equal(later) || !e.FinishedAt.IsZero() || !e.MayHaveLanded {
					t.Errorf("%s, next %v, queued %v, finished %v, landed %v", e.State, e.NextAttemptAt, e.QueuedAt, e.FinishedAt, e.MayHaveLanded)
				}
			}},
		{"the max age makes an unleased queued event dead", finished(queued(false), sidecar.StateQueued), sidecar.Happening{Kind: sidecar.Expire, MaxAge: time.Minute}, later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDead || !e.FinishedAt.Equal(later) || e.MayHaveLanded {
					t.Errorf("%s, finished %v, landed %v", e.State, e.FinishedAt, e.MayHaveLanded)
				}
			}},
		{"the max age counts a lease run out as an attempt that may have landed", queued(false), sidecar.Happening{Kind: sidecar.Expire, MaxAge: time.Minute}, later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDead || e.Landed != 1 || !e.LeaseUntil.IsZero() || e.PossibleDouble {
					t.Errorf("%s, landed %d, lease %v, possible double %v", e.State, e.Landed, e.LeaseUntil, e.PossibleDouble)
				}
			}},
		{"a soft-matched event whose leases ran out twice goes dead a possible double", landed(queued(true)), sidecar.Happening{Kind: sidecar.Expire, MaxAge: time.Minute}, later, true,
			func(t *testing.T, e sidecar.Event) {
				if e.State != sidecar.StateDead || e.Landed != 2 || !e.PossibleDouble {
					t.Errorf("%s, landed %d, possible double %v", e.State, e.Landed, e.PossibleDouble)
				}
			}},
		{"the max age leaves a leased event to its holder", queued(false), sidecar.Happening{Kind: sidecar.Expire, MaxAge: time.Second}, t0.Add(30 * time.Second), false, nil},
		{"the max age leaves an event queued more recently", finished(queued(false), sidecar.StateQueued), sidecar.Happening{Kind: sidecar.Expire, MaxAge: time.Hour}, later, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, applies, err := sidecar.Transition(tc.e, tc.h, tc.at)
			if err != nil || applies != tc.applies {
				t.Fatalf("applies %v, %v; want %v", applies, err, tc.applies)
			}
			if !applies {
				if got.State != tc.e.State || got.Attempts != tc.e.Attempts || !got.LeaseUntil.Equal(tc.e.LeaseUntil) {
					t.Errorf("changed what it does not apply to: %+v", got)
				}
				return
			}
			if !got.UpdatedAt.Equal(tc.at) {
				t.Errorf("updated %v, want %v", got.UpdatedAt, tc.at)
			}
			tc.check(t, got)
		})
	}
}

func TestAnOperatorRetriesOnlyWhatMayBeSentAgain(t *testing.T) {
	for _, st := range sidecar.States() {
		_, ok, err := sidecar.Transition(finished(queued(false), st), sidecar.Happening{Kind: sidecar.Retry}, later)
		if ok != st.Retryable() || (err == nil) != st.Retryable() {
			t.Errorf("%s: retried %v, %v", st, ok, err)
		}
		if err != nil && (!errors.Is(err, sidecar.ErrNotRetryable) || sidecar.ErrorCode(err) != sidecar.EConflict) {
			t.Errorf("%s: %v", st, err)
		}
	}
	erased := finished(queued(false), sidecar.StateDead)
	erased.Erased = true
	if _, ok, err := sidecar.Transition(erased, sidecar.Happening{Kind: sidecar.Retry}, later); ok || sidecar.ErrorCode(err) != sidecar.EConflict {
		t.Errorf("an erased event retried: %v, %v", ok, err)
	}
}
