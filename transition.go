package sidecar

import (
	"fmt"
	"time"
)

// The rules of an event's life (docs/reference.md, "Delivery to GLP
// Winner"; docs/report.md for what each failure leaves), in one place.
// The relay reads an upstream answer with Answered; a store reads the
// event's row, asks Transition what a claim, a record, a release, an
// operator's retry or the retry max age does to it, and writes the row it
// gets back in the same transaction. No store's SQL decides a state, a
// schedule, a flag or a count: a third store writes its queries, not these
// rules.

// Reply is what the upstream's answer to one attempt says about the event,
// as the relay classifies it.
type Reply int

// The replies.
const (
	ReplyCreated   Reply = iota // 201: GLP Winner recorded it
	ReplyDuplicate              // 200 duplicate: GLP Winner already holds a conversion of its click
	ReplyRefused                // 400, 422 or another refusal of this event
	ReplyFailed                 // no answer, 408, 429, 5xx: to be tried again
	ReplyPaused                 // 401, 403, a redirect, 404, 405: the credentials or URL are wrong
)

// Answered is the state an attempt's reply leads the event to, knowing
// what its earlier attempts may have done (e as claimed), and whether
// GLP Winner may now hold it twice; landed says whether this attempt may
// have landed unanswered. ReplyFailed and ReplyPaused leave it queued (the
// relay schedules it). An earlier attempt that may have landed makes a
// duplicate the event's own conversion (delivered) and a refusal
// unconfirmed.
func Answered(e Event, r Reply, landed bool) (State, bool) {
	var st State
	switch r {
	case ReplyCreated:
		st = StateDelivered
	case ReplyDuplicate:
		st = StateDuplicate
		if e.MayHaveLanded {
			st = StateDelivered
		}
	case ReplyRefused:
		st = StateRejected
		if e.MayHaveLanded {
			st = StateUnconfirmed
		}
	default:
		return StateQueued, false
	}
	recorded := e.Landed // the attempts that may have recorded it: those that may have landed, this one, a 201
	if landed || r == ReplyCreated {
		recorded++
	}
	return st, PossibleDouble(e.Conversion, recorded)
}

// PossibleDouble reports whether GLP Winner may hold a conversion more than
// once: it can only soft-match it (no click id, no session token: nothing
// dedups a resend), and recorded attempts of it may have recorded it.
func PossibleDouble(c Conversion, recorded int) bool {
	return c.ClickID == "" && c.SessionToken == "" && recorded >= 2
}

// Overdue reports whether a queued event is past the retry max age at now:
// the age counts from when it was (re)queued.
func (e Event) Overdue(maxAge time.Duration, now time.Time) bool {
	return !now.Before(e.QueuedAt.Add(maxAge))
}

// Happening is what happens to an event: one of the kinds below, with what
// that kind needs.
type Happening struct {
	Kind   Happen
	Lease  time.Time     // Claim: the end of the new lease; Release: the holder's (its token)
	Result Result        // Record: what the attempt came to
	MaxAge time.Duration // Expire: GLP_RETRY_MAX_AGE
}

// Happen is the kind of a Happening.
type Happen int

// The kinds of happenings.
const (
	Claim   Happen = iota + 1 // a relay leases the event to send it
	Record                    // a relay records an attempt (Result)
	Release                   // the holder of the lease gives the event back unsent
	Retry                     // an operator sends a finished event again
	Expire                    // the relay dead-letters events past the retry max age
)

// Transition is the event e as it stands after h happens at now, and
// whether h applies to it: a claim, release or expiry of an event that is
// not queued (or an expiry of one not yet overdue, or still leased) changes
// nothing, and so does a release by anyone but the holder of the event's
// current lease (fencing: a stale holder gives back nothing the next holder
// holds). A retry it refuses is an error (EConflict: not retryable, or
// erased). The store writes the returned event's row as it is: state,
// attempts, schedule, lease, last answer, GLP Winner's ids, the counts and
// flags, and its times.
//
// Times are kept to the millisecond; a lease is compared at that precision.
func Transition(e Event, h Happening, now time.Time) (Event, bool, error) {
	switch h.Kind {
	case Claim:
		if e.State != StateQueued || e.LeaseUntil.After(now) { // a lease still running is its holder's
			return e, false, nil
		}
		// A lease still set when the event is claimed again was neither
		// recorded nor released: the process that held it died or stalled,
		// maybe with the request written. That attempt may have landed.
		if !e.LeaseUntil.IsZero() {
			e.Landed++
		}
		e.LeaseUntil, e.NextAttemptAt = h.Lease, h.Lease
		e.Attempts++
	case Record:
		e = record(e, h.Result, now)
	case Release:
		if h.Lease.IsZero() || !e.Holds(h.Lease) {
			return e, false, nil
		}
		e.LeaseUntil, e.NextAttemptAt = time.Time{}, now
		e.Attempts = max(e.Attempts-1, 0) // the attempt was never made
	case Retry:
		if !e.State.Retryable() {
			return e, false, &Error{Code: EConflict, Message: fmt.Sprintf("event %s is %s: %v", e.ID, e.State, ErrNotRetryable), Err: ErrNotRetryable}
		}
		if e.Erased {
			return e, false, ErasedError(e.ID)
		}
		e.State, e.NextAttemptAt, e.QueuedAt = StateQueued, now, now
		e.LeaseUntil, e.FinishedAt = time.Time{}, time.Time{}
	case Expire:
		leased := !e.LeaseUntil.IsZero()
		if e.State != StateQueued || !e.Overdue(h.MaxAge, now) || (leased && e.LeaseUntil.After(now)) {
			return e, false, nil
		}
		if leased { // ran out: as in a claim, that attempt may have landed
			e.Landed++
		}
		e.State, e.FinishedAt, e.NextAttemptAt, e.LeaseUntil = StateDead, now, now, time.Time{}
		e.PossibleDouble = e.PossibleDouble || PossibleDouble(e.Conversion, e.Landed)
	default:
		return e, false, fmt.Errorf("transition: unknown happening %d", h.Kind)
	}
	e.UpdatedAt, e.MayHaveLanded = now, e.Landed > 0
	return e, true, nil
}

// Holds reports whether the claim whose lease ends at lease still holds
// the event e, so that its record may end it and its release give it back:
// e is queued and still holds that lease (a zero lease: whatever lease it
// holds, which a record may name and a release may not).
//
// The lease's end is the holder's token, as an attempt number is River's:
// a claim takes only an event whose lease ended or was cleared, and leases
// it until its own now plus the lease, later than any lease before it, so
// two claims of one event never hold the same token.
func (e Event) Holds(lease time.Time) bool {
	return e.State == StateQueued && (lease.IsZero() || e.LeaseUntil.UnixMilli() == lease.UnixMilli())
}

// record applies an attempt's result. A record from the claim that holds
// the event sets its state (an event that holds GLP Winner's conversion id
// is delivered, whatever an answer after it says), schedule, last answer
// and counts, and ends the lease. A late one (see Result.LeaseUntil) keeps
// only what its answer proved GLP Winner holds: a 201's ids, a possible
// double, and a delivered event that was unconfirmed, dead or
// waiting unleased for a retry; a claim that holds it ends it delivered
// when it records.
func record(e Event, r Result, now time.Time) Event {
	if !e.Holds(r.LeaseUntil) {
		if r.State == StateDelivered {
			e.Upstream = merged(e.Upstream, r.Upstream)
			switch {
			case e.State == StateUnconfirmed || e.State == StateDead:
				e.State = StateDelivered
			case e.State == StateQueued && e.LeaseUntil.IsZero():
				// Waiting for a retry that nobody holds: GLP Winner has it,
				// and a retry would only record it again.
				e.State, e.FinishedAt, e.NextAttemptAt = StateDelivered, now, now
			}
		}
		e.PossibleDouble = e.PossibleDouble || r.PossibleDouble
		return e
	}
	a := r.Attempt
	e.State = r.State
	if r.State != StateDelivered && e.Upstream.ConversionID != "" {
		// An earlier attempt's 201 (recorded late) said GLP Winner holds
		// it: whatever this answer says, it is delivered, never sent again.
		e.State = StateDelivered
	}
	e.NextAttemptAt, e.FinishedAt = now, now
	if e.State == StateQueued {
		e.FinishedAt = time.Time{}
		if !r.NextAttemptAt.IsZero() {
			e.NextAttemptAt = r.NextAttemptAt
		}
	}
	e.LeaseUntil = time.Time{}
	if r.Uncounted {
		e.Attempts = max(e.Attempts-1, 0)
	}
	e.LastStatus, e.LastError, e.LastBody = a.Status, CleanText(a.Error), StoredBody(a.Body)
	e.Upstream = merged(e.Upstream, r.Upstream)
	if a.MayHaveLanded {
		e.Landed++
	}
	e.PossibleDouble = e.PossibleDouble || r.PossibleDouble
	if r.RefusedAlone {
		e.RefusedAlone, e.LastRefusedAt = e.RefusedAlone+1, now
	}
	return e
}

// merged is u with what v says: each of GLP Winner's ids that v names.
func merged(u, v Upstream) Upstream {
	if v.ConversionID != "" {
		u.ConversionID = v.ConversionID
	}
	if v.ClickID != "" {
		u.ClickID = v.ClickID
	}
	if v.RecordedAt != "" {
		u.RecordedAt = v.RecordedAt
	}
	return u
}

// Claimed is the event as a claim hands it to the relay: what a delivery
// needs, less its idempotency key and its last attempt's outcome, which
// Get has.
func (e Event) Claimed() Event {
	e.Key, e.LastStatus, e.LastError, e.LastBody = "", 0, "", ""
	return e
}
