package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// insertEvent is an accept's one statement: a new event, queued and due now,
// unless its idempotency key was already accepted.
const insertEvent = `INSERT INTO events (id, idem_key, payload, test, click_source, state, next_attempt_at, created_at, queued_at, updated_at)
	VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING`

// Append stores a new event, queued and due now, and returns its id once it
// is on disk. An event whose key was already accepted is not stored again:
// the answer names the first event and says Duplicate.
func (o *Store) Append(ctx context.Context, e sidecar.NewEvent) (sidecar.Appended, error) {
	payload, err := json.Marshal(e.Conversion)
	if err != nil {
		return sidecar.Appended{}, fmt.Errorf("encode conversion: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return sidecar.Appended{}, fmt.Errorf("event id: %w", err)
	}
	var out sidecar.Appended
	err = o.writer.write(ctx, func(tx *txn) error {
		now := sidecar.MS(o.now())
		res, err := tx.exec(insertEvent, id.String(), nullable(e.Key), payload, e.Test, e.ClickSource, now, now, now, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out = sidecar.Appended{ID: id.String()}
			return nil
		}
		out.Duplicate = true
		return tx.QueryRow(`SELECT id FROM events WHERE idem_key = ?`, e.Key).Scan(&out.ID)
	})
	if err != nil {
		return sidecar.Appended{}, fmt.Errorf("append event: %w", err)
	}
	return out, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Claim leases up to n due events for lease and counts an attempt on each.
// The claim reads the partial index of queued events by due time (INDEXED
// BY: the planner otherwise sorts the whole queue on every claim), so its
// cost does not grow with the backlog. A lease that is not released or
// recorded (a crash) expires, and the event is due again.
func (o *Store) Claim(ctx context.Context, n int, lease time.Duration) ([]sidecar.Event, error) {
	return o.claim(ctx, `state = 'queued' AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :n`, n, lease)
}

// ClaimProbe leases the queued event that is due first, due or not, unless
// it is leased: the relay probes a failing upstream with it.
func (o *Store) ClaimProbe(ctx context.Context, lease time.Duration) ([]sidecar.Event, error) {
	return o.claim(ctx, `state = 'queued' AND (lease_until IS NULL OR lease_until <= :now) ORDER BY next_attempt_at LIMIT :n`, 1, lease)
}

// claim reads the events that where selects, and writes what a claim does
// to each (sidecar.Transition), in one transaction.
func (o *Store) claim(ctx context.Context, where string, n int, lease time.Duration) ([]sidecar.Event, error) {
	var events []sidecar.Event
	var payloads [][]byte
	err := o.writer.writeRelay(ctx, func(tx *txn) error {
		now := o.clock()
		var err error
		events, payloads, err = readEvents(tx, `SELECT `+sidecar.EventColumns+` FROM events INDEXED BY events_due WHERE `+where,
			sql.Named("now", sidecar.MS(now)), sql.Named("n", n))
		if err != nil {
			return err
		}
		h := sidecar.Happening{Kind: sidecar.Claim, Lease: now.Add(lease).Truncate(time.Millisecond)}
		if events, err = transitionAll(tx, events, h, now, nil); err != nil {
			return err
		}
		for i := range events {
			events[i] = events[i].Claimed()
		}
		return nil
	}, false)
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", err)
	}
	// Decoded here, not in the transaction: the writer serves everyone.
	for i := range events {
		if err := events[i].DecodePayload(payloads[i]); err != nil {
			return nil, fmt.Errorf("claim events: %w", err)
		}
	}
	return events, nil
}

// Record stores the outcome of one delivery attempt: the attempt itself,
// and what it does to the event (sidecar.Transition).
func (o *Store) Record(ctx context.Context, r sidecar.Result) error {
	err := o.writer.writeRelay(ctx, func(tx *txn) error {
		return recordTx(tx, r, o.clock())
	}, true)
	if err != nil {
		return fmt.Errorf("record attempt of %s: %w", r.EventID, err)
	}
	return nil
}

// insertAttempt is a record's attempt row.
const insertAttempt = `INSERT INTO attempts (event_id, n, started_at, duration_us, status, error, body, outcome, may_have_landed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

func recordTx(tx *txn, r sidecar.Result, now time.Time) error {
	e, _, err := readEvent(tx, r.EventID)
	if err != nil {
		return err
	}
	if _, _, err := transition(tx, e, sidecar.Happening{Kind: sidecar.Record, Result: r}, now); err != nil {
		return err
	}
	a := r.Attempt
	body := sidecar.StoredBody(a.Body)
	if r.Uncounted {
		if folded, err := foldUncounted(tx, r.EventID, a, body); folded || err != nil {
			return err
		}
	}
	_, err = tx.exec(insertAttempt,
		r.EventID, a.N, sidecar.MS(a.StartedAt), a.Duration.Microseconds(), a.Status, sidecar.CleanText(a.Error), body, a.Outcome, a.MayHaveLanded)
	return err
}

// foldUncounted folds an uncounted attempt into an earlier attempt row of
// the event when sidecar.AttemptRows.FoldInto says so, and reports whether
// it did.
func foldUncounted(tx *txn, eventID string, a sidecar.Attempt, body string) (bool, error) {
	var rows sidecar.AttemptRows
	var lastPaused sql.NullInt64
	err := tx.QueryRow(`SELECT id, status, error, body, outcome,
			(SELECT COUNT(*) FROM attempts WHERE event_id = :id AND outcome = 'paused'),
			(SELECT MAX(id) FROM attempts WHERE event_id = :id AND outcome = 'paused')
		FROM attempts WHERE event_id = :id ORDER BY id DESC LIMIT 1`, sql.Named("id", eventID)).
		Scan(&rows.LastID, &rows.Last.Status, &rows.Last.Error, &rows.Last.Body, &rows.Last.Outcome, &rows.Paused, &lastPaused)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rows.LastPausedID = lastPaused.Int64
	into := rows.FoldInto(a)
	if into == 0 {
		return false, nil
	}
	_, err = tx.Exec(`UPDATE attempts SET repeats = repeats + 1, last_at = ?, status = ?, error = ?, body = ?, duration_us = ? WHERE id = ?`,
		sidecar.MS(a.StartedAt), a.Status, sidecar.CleanText(a.Error), body, a.Duration.Microseconds(), into)
	return err == nil, err
}

// Release gives leased events back without counting the attempt: they are
// due at once. Shutdown uses it for events claimed but never sent, and a
// worker for one whose lease has too little left to send it. Each only
// while the caller holds the lease it names (sidecar.Transition): a stale
// holder's release changes nothing.
func (o *Store) Release(ctx context.Context, leases ...sidecar.Lease) error {
	if len(leases) == 0 {
		return nil
	}
	err := o.writer.write(ctx, func(tx *txn) error {
		now := o.clock()
		for _, l := range leases {
			e, _, err := readEvent(tx, l.EventID)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if _, _, err := transition(tx, e, sidecar.Happening{Kind: sidecar.Release, Lease: l.Until}, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release events: %w", err)
	}
	return nil
}

// Retry requeues rejected, unconfirmed or dead events by id, all or none
// (sidecar.Transition says which may be), and returns how many; an id that
// does not exist is a sidecar ENotFound error.
func (o *Store) Retry(ctx context.Context, ids ...string) (int, error) {
	var n int
	err := o.writer.write(ctx, func(tx *txn) error {
		n = 0
		now := o.clock()
		for _, id := range sidecar.UniqueIDs(ids) {
			e, _, err := readEvent(tx, id)
			if errors.Is(err, sql.ErrNoRows) {
				return &sidecar.Error{Code: sidecar.ENotFound, Message: "no event " + id}
			} else if err != nil {
				return err
			}
			if _, _, err := transition(tx, e, sidecar.Happening{Kind: sidecar.Retry}, now); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("retry events: %w", err)
	}
	return n, nil
}

// RetryState requeues every event in a retryable state that may be sent
// again (not one whose personal data was erased), and returns how many.
func (o *Store) RetryState(ctx context.Context, state sidecar.State) (int, error) {
	if !state.Retryable() {
		return 0, &sidecar.Error{Code: sidecar.EInvalid, Message: fmt.Sprintf("state %q: %v", state, sidecar.ErrNotRetryable)}
	}
	var n int
	err := o.writer.write(ctx, func(tx *txn) error {
		n = 0
		events, _, err := readEvents(tx, `SELECT `+sidecar.EventColumns+` FROM events WHERE state = ?`, state)
		if err != nil {
			return err
		}
		erased := func(err error) bool { return sidecar.ErrorCode(err) == sidecar.EConflict } // not sent again
		requeued, err := transitionAll(tx, events, sidecar.Happening{Kind: sidecar.Retry}, o.clock(), erased)
		n = len(requeued)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("retry %s events: %w", state, err)
	}
	return n, nil
}

// ResetBackoff makes every queued event that waits for a later retry due
// now: once the upstream has recovered from an outage, nothing need wait out
// a backoff earned while it was down. Leased events are left alone.
func (o *Store) ResetBackoff(ctx context.Context) (int, error) {
	now := sidecar.MS(o.now())
	n, err := o.exec(ctx, `UPDATE events SET next_attempt_at = ? WHERE state = 'queued' AND next_attempt_at > ? AND lease_until IS NULL`, now, now)
	if err != nil {
		return 0, fmt.Errorf("reset backoff: %w", err)
	}
	return n, nil
}

// RestartAge counts the retry max age of every queued event afresh from
// now: after the relay was paused on bad credentials, which is no fault of
// the events, none of them should go dead for the time it lost.
func (o *Store) RestartAge(ctx context.Context) (int, error) {
	now := sidecar.MS(o.now())
	n, err := o.exec(ctx, `UPDATE events SET queued_at = ? WHERE state = 'queued'`, now)
	if err != nil {
		return 0, fmt.Errorf("restart retry age: %w", err)
	}
	return n, nil
}

// ExpireDead marks dead the queued events still undelivered maxAge after
// they were queued, unless leased, and returns their ids.
func (o *Store) ExpireDead(ctx context.Context, maxAge time.Duration) ([]string, error) {
	var ids []string
	err := o.writer.write(ctx, func(tx *txn) error {
		ids = ids[:0]
		now := o.clock()
		events, payloads, err := readEvents(tx, `SELECT `+sidecar.EventColumns+` FROM events WHERE state = 'queued' AND queued_at <= ?`, sidecar.MS(now.Add(-maxAge)))
		if err != nil {
			return err
		}
		for i := range events { // the rule reads the conversion: soft-matched or not
			if err := events[i].DecodePayload(payloads[i]); err != nil {
				return err
			}
		}
		expired, err := transitionAll(tx, events, sidecar.Happening{Kind: sidecar.Expire, MaxAge: maxAge}, now, nil)
		for _, e := range expired {
			ids = append(ids, e.ID)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("expire dead events: %w", err)
	}
	return ids, nil
}

// exec runs one statement through the group commit and returns how many
// rows it changed.
func (o *Store) exec(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := o.writer.write(ctx, func(tx *txn) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
