package sidecar

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Store is the outbox: the events waiting for or done with delivery, their
// attempts, and the click log. Two stores keep it: the SQLite file (package
// sqlite, the default) and PostgreSQL (package postgres, shared by every
// sidecar that names the same database); package storetest holds the tests
// that every store passes. It is made of the parts its users need, each a
// contract of its own: the relay's Queue, ingest's Intake, the operators'
// Events and Reports, the ClickLog, Retention, and the store's Health.
//
// What a claim, a record, a release, an operator's retry or the retry max
// age does to an event is decided by Transition: a store reads the event's
// row, asks it, and writes what it decided in one transaction.
//
// Times are kept to the millisecond. Errors that mean "cannot store now"
// (disk full, database down or read-only) carry the code EUnavailable, which
// the public listener answers with 503 and a Retry-After.
type Store interface {
	Intake
	Queue
	Events
	Reports
	ClickLog
	Retention
	Health
	// Listen calls wake whenever another process (another sidecar on the
	// same database, an operator's command) queues or requeues events, until
	// ctx ends; then it returns nil. It reconnects by itself. A store that
	// no other process delivers from may just wait for ctx.
	Listen(ctx context.Context, wake func()) error
	// Close finishes the writes in progress and closes the store.
	Close() error
}

// Intake is the outbox as the conversion endpoint writes to it.
type Intake interface {
	// Append stores a new event, queued and due now, and returns its id once
	// it is durable. An event whose key was already accepted is not stored
	// again: the answer names the first event and says Duplicate.
	Append(ctx context.Context, e NewEvent) (Appended, error)
}

// Queue is the outbox as the relay delivers from it.
type Queue interface {
	// Claim leases up to n due queued events for lease and counts an attempt
	// on each, oldest due first; no event is leased to two claimers at once.
	// A lease that is neither released nor recorded expires, and the event
	// is due again.
	Claim(ctx context.Context, n int, lease time.Duration) ([]Event, error)
	// ClaimProbe leases the queued event that is due first, due or not,
	// unless it is leased.
	ClaimProbe(ctx context.Context, lease time.Duration) ([]Event, error)
	// Record stores one attempt and what it does to the event (Transition):
	// its new state or next attempt time, and the lease's end, when the
	// event still holds the lease the attempt was made under; a late record
	// keeps only its attempt and what its answer proved (see
	// Result.LeaseUntil).
	Record(ctx context.Context, r Result) error
	// Release gives leased events back without counting the attempt, each
	// only while its caller holds the lease it names: a stale holder's
	// release (its lease ran out, another claim took the event) changes
	// nothing.
	Release(ctx context.Context, leases ...Lease) error
	// ResetBackoff makes queued events waiting for a later retry due now,
	// leased ones aside.
	ResetBackoff(ctx context.Context) (int, error)
	// RestartAge counts the retry max age of every queued event from now.
	RestartAge(ctx context.Context) (int, error)
	// ExpireDead marks dead the unleased queued events queued maxAge ago or
	// more, and returns their ids.
	ExpireDead(ctx context.Context, maxAge time.Duration) ([]string, error)
	// NextDue is when the earliest queued event is due; false when none is.
	NextDue(ctx context.Context) (time.Time, bool, error)
}

// Events is the outbox as operators read it and send events again.
type Events interface {
	// Get returns one event with its attempts, oldest first; a missing id is
	// an ENotFound error.
	Get(ctx context.Context, id string) (Event, []Attempt, error)
	// List returns events newest first: in one state unless state is "",
	// older than the event before unless it is "", at most limit
	// (MaxListLimit when limit is 0 or more than that).
	List(ctx context.Context, state State, before string, limit int) ([]Event, error)
	// Stats counts events per state (every state present) and finds the
	// oldest queued event and the next due time.
	Stats(ctx context.Context) (Stats, error)
	// Retry requeues rejected, unconfirmed or dead events by id, due now,
	// their max age counted afresh: ENotFound for a missing id, EConflict
	// wrapping ErrNotRetryable for an event in another state or one whose
	// personal data was erased; all or none.
	Retry(ctx context.Context, ids ...string) (int, error)
	// RetryState requeues every event in a retryable state, except those
	// whose personal data was erased; EInvalid for another state.
	RetryState(ctx context.Context, state State) (int, error)
}

// Reports is the outbox as the reconciliation report reads it.
type Reports interface {
	// Report counts the events accepted on each of the query's days by the
	// state they are in now, live or test (q.Test), with the possible
	// doubles among them.
	Report(ctx context.Context, q ReportQuery) ([]ReportDay, error)
	// ReportRows calls fn with every event, live and test, accepted in the
	// query's range, oldest first; fn's error ends the walk and is returned.
	ReportRows(ctx context.Context, q ReportQuery, fn func(ReportRow) error) error
}

// ClickLog is the log of landings with a click id.
type ClickLog interface {
	// RecordClick appends a landing to the click log, at once and alone.
	RecordClick(ctx context.Context, c Click) error
	// RecordClicks appends landings to the click log in one transaction,
	// deletes the oldest beyond the newest keep, and returns how many it
	// deleted.
	RecordClicks(ctx context.Context, clicks []Click, keep int) (int, error)
	// MatchClick returns the click id of the most recent top-level landing
	// since the given time from the same address and user agent.
	MatchClick(ctx context.Context, ip, userAgent string, since time.Time) (string, bool, error)
	// Clicks returns the most recent clicks, newest first, at most limit
	// (MaxListLimit when limit is 0 or more than that).
	Clicks(ctx context.Context, limit int) ([]Click, error)
}

// Retention is what the outbox forgets, and when.
type Retention interface {
	// Purge deletes delivered and duplicate events finished age ago or
	// more, with their attempts and idempotency keys, and returns how many.
	Purge(ctx context.Context, age time.Duration) (int, error)
	// Retain erases the email, IP and session token of events finished age
	// ago or more, with the upstream's answers to them (the event's last
	// body and its attempts' bodies), deletes clicks logged age ago or more,
	// and returns how many events it erased.
	Retain(ctx context.Context, age time.Duration) (int, error)
	// Maintain runs Retain every interval until ctx ends.
	Maintain(ctx context.Context, retention, every time.Duration)
}

// Health is whether the outbox takes writes, for readiness and metrics.
type Health interface {
	// Writable reports whether the store takes writes now: nil, or an
	// EUnavailable error with the reason.
	Writable(ctx context.Context) error
	// LastWriteError is the error of the last write that failed for want of
	// room or of the database, or nil once a write has succeeded since.
	LastWriteError() error
}

// MaxListLimit caps one page of Store.List and Store.Clicks.
const MaxListLimit = 500

// DefaultMaxBatch is the most writes a store gathers into one commit (the
// SQLite file's group commit, PostgreSQL's batched statements).
const DefaultMaxBatch = 256

// ErrClosed is a store's answer to a write after Close.
var ErrClosed = errors.New("outbox is closed")

// ErrStoredUnknown is in the chain of an EUnavailable append error when the
// store cannot tell whether the write committed (the connection broke after
// the commit was sent and the store could not find out in time): the
// public listener's 503 then says "stored":"unknown", not "nothing was
// stored", and a retry with the same key is a duplicate if it was stored.
var ErrStoredUnknown = errors.New("whether the event was stored is unknown")

// ErrDataRefused is in the chain of an EInvalid error when the database,
// not the sidecar's own checks, refused a value as invalid data
// (PostgreSQL's SQLSTATE class 22, an invalid byte sequence say): the
// listener answers 400 and logs a flood of them once a second at most.
var ErrDataRefused = errors.New("the database refused a value as invalid data")

// CommitObserver is told of every commit a store makes for a batch of
// writes: how many writes it carried and how long it took, the disk's sync
// or the database's commit included. Metrics.
type CommitObserver interface {
	Committed(writes int, took time.Duration)
}

// ErrNotRetryable is the cause of retrying an event that is queued,
// delivered or duplicate.
var ErrNotRetryable = errors.New("only rejected, unconfirmed and dead events can be retried")

// Maintenance pace: retention runs every tenth of GLP_RETENTION, between
// once a second and once an hour.
const (
	minMaintainEvery = time.Second
	maxMaintainEvery = time.Hour
)

// MaintainEvery is how often a store's Maintain runs for a retention.
func MaintainEvery(retention time.Duration) time.Duration {
	return min(max(retention/10, minMaintainEvery), maxMaintainEvery)
}

// RetainEvery calls retain (a store's Retain) with retention now and then
// every interval until ctx ends, and logs what it erased: the loop of each
// store's Maintain.
func RetainEvery(ctx context.Context, log *slog.Logger, retention, every time.Duration, retain func(context.Context, time.Duration) (int, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := retain(ctx, retention); err != nil {
			log.Warn("retention failed", "err", err)
		} else if n > 0 {
			log.Info("erased the personal data of finished events", "events", n, "older_than", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
