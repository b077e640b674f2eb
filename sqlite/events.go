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

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

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
	err = o.writer.write(ctx, func(tx *sql.Tx) error {
		now := ms(o.now())
		res, err := tx.Exec(insertEvent, id.String(), nullable(e.Key), payload, e.Test, e.ClickSource, now, now, now, now)
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

// Claim leases up to n due events for lease and counts an attempt on each,
// in one statement. The claim reads the partial index of queued events by
// due time (INDEXED BY: inside an UPDATE the planner otherwise sorts the
// whole queue on every claim), so its cost does not grow with the backlog.
// A lease that is not released or recorded (a crash) expires, and the event
// is due again.
//
// A claimed event carries what a delivery needs: its id, conversion, test
// flag, click source, attempts, times and lease; not its idempotency key nor
// its last attempt's outcome, which Get has (returning every column cost the
// claim a quarter of its speed).
func (o *Store) Claim(ctx context.Context, n int, lease time.Duration) ([]sidecar.Event, error) {
	return o.claim(ctx, `state = 'queued' AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :n`, n, lease)
}

// ClaimProbe leases the queued event that is due first, due or not, unless
// it is leased: the relay probes a failing upstream with it.
func (o *Store) ClaimProbe(ctx context.Context, lease time.Duration) ([]sidecar.Event, error) {
	return o.claim(ctx, `state = 'queued' AND (lease_until IS NULL OR lease_until <= :now) ORDER BY next_attempt_at LIMIT :n`, 1, lease)
}

func (o *Store) claim(ctx context.Context, where string, n int, lease time.Duration) ([]sidecar.Event, error) {
	var events []sidecar.Event
	var payloads [][]byte
	err := o.writer.writeRelay(ctx, func(tx *sql.Tx) error {
		events, payloads = events[:0], payloads[:0]
		now := o.now()
		until, updated := fromMS(ms(now.Add(lease))), fromMS(ms(now)) // as stored: milliseconds
		// A lease still set when the event is claimed again was neither
		// recorded nor released: the process that held it died, maybe with
		// the request written. That attempt may have landed.
		rows, err := tx.Query(`UPDATE events SET lease_until = :until, next_attempt_at = :until, attempts = attempts + 1, updated_at = :now,
				landed = landed + (lease_until IS NOT NULL)
			WHERE id IN (SELECT id FROM events INDEXED BY events_due WHERE `+where+`)
			RETURNING id, payload, test, click_source, attempts, created_at, queued_at, landed, refused_alone, last_refused_at`,
			sql.Named("until", ms(until)), sql.Named("now", ms(now)), sql.Named("n", n))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e := sidecar.Event{State: sidecar.StateQueued, NextAttemptAt: until, LeaseUntil: until, UpdatedAt: updated}
			var payload []byte
			var created, queued int64
			var refusedAt sql.NullInt64
			if err := rows.Scan(&e.ID, &payload, &e.Test, &e.ClickSource, &e.Attempts, &created, &queued, &e.Landed, &e.RefusedAlone, &refusedAt); err != nil {
				return err
			}
			e.CreatedAt, e.QueuedAt, e.LastRefusedAt = fromMS(created), fromMS(queued), fromMS(refusedAt.Int64)
			e.MayHaveLanded = e.Landed > 0
			events, payloads = append(events, e), append(payloads, payload)
		}
		return rows.Err()
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

// Record stores the outcome of one delivery attempt: the attempt itself, and
// the event's new state (or, for StateQueued, its next attempt time), and
// ends the lease.
func (o *Store) Record(ctx context.Context, r sidecar.Result) error {
	err := o.writer.writeRelay(ctx, func(tx *sql.Tx) error {
		return recordTx(tx, r, o.now())
	}, true)
	if err != nil {
		return fmt.Errorf("record attempt of %s: %w", r.EventID, err)
	}
	return nil
}

func recordTx(tx *sql.Tx, r sidecar.Result, now time.Time) error {
	a := r.Attempt
	body := sidecar.StoredBody(a.Body)
	var finished any
	if r.State != sidecar.StateQueued {
		finished = ms(now)
	}
	next := ms(r.NextAttemptAt)
	if r.State != sidecar.StateQueued || next == 0 {
		next = ms(now)
	}
	var lease int64 // 0: whatever lease the event holds
	if !r.LeaseUntil.IsZero() {
		lease = ms(r.LeaseUntil)
	}
	var refusedAt any
	if r.RefusedAlone {
		refusedAt = ms(now)
	}
	res, err := tx.Exec(`UPDATE events SET state = CASE WHEN :state IN ('unconfirmed', 'dead') AND upstream_conversion_id != '' THEN 'delivered' ELSE :state END,
			next_attempt_at = :next, lease_until = NULL, attempts = MAX(attempts - :uncount, 0),
			last_status = :status, last_error = :error, last_body = :body,
			upstream_conversion_id = CASE WHEN :cid = '' THEN upstream_conversion_id ELSE :cid END,
			upstream_click_id = CASE WHEN :clk = '' THEN upstream_click_id ELSE :clk END,
			upstream_recorded_at = CASE WHEN :rec = '' THEN upstream_recorded_at ELSE :rec END,
			landed = landed + :landed, possible_double = possible_double OR :double,
			refused_alone = refused_alone + :refused, last_refused_at = COALESCE(:refused_at, last_refused_at),
			updated_at = :now, finished_at = :finished
		WHERE id = :id AND state = 'queued' AND (:lease = 0 OR lease_until = :lease)`,
		sql.Named("state", r.State), sql.Named("next", next), sql.Named("uncount", r.Uncounted),
		sql.Named("status", a.Status), sql.Named("error", sidecar.CleanText(a.Error)), sql.Named("body", body),
		sql.Named("cid", r.Upstream.ConversionID), sql.Named("clk", r.Upstream.ClickID), sql.Named("rec", r.Upstream.RecordedAt),
		sql.Named("landed", a.MayHaveLanded), sql.Named("double", r.PossibleDouble),
		sql.Named("refused", r.RefusedAlone), sql.Named("refused_at", refusedAt),
		sql.Named("now", ms(now)), sql.Named("finished", finished), sql.Named("id", r.EventID), sql.Named("lease", lease))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = recordLate(tx, r, now)
		}
		if err != nil {
			return err
		}
	}
	if r.Uncounted {
		if folded, err := foldUncounted(tx, r.EventID, a, body); folded || err != nil {
			return err
		}
	}
	_, err = tx.Exec(`INSERT INTO attempts (event_id, n, started_at, duration_us, status, error, body, outcome, may_have_landed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.EventID, a.N, ms(a.StartedAt), a.Duration.Microseconds(), a.Status, sidecar.CleanText(a.Error), body, a.Outcome, a.MayHaveLanded)
	return err
}

// recordLate keeps what a late record's answer proved GLP Winner holds (see
// sidecar.Result.LeaseUntil); its attempt row is written as any other's.
func recordLate(tx *sql.Tx, r sidecar.Result, now time.Time) error {
	_, err := tx.Exec(`UPDATE events SET
			upstream_conversion_id = CASE WHEN :cid = '' OR :state != 'delivered' THEN upstream_conversion_id ELSE :cid END,
			upstream_click_id = CASE WHEN :clk = '' OR :state != 'delivered' THEN upstream_click_id ELSE :clk END,
			upstream_recorded_at = CASE WHEN :rec = '' OR :state != 'delivered' THEN upstream_recorded_at ELSE :rec END,
			possible_double = possible_double OR :double,
			state = CASE WHEN :state = 'delivered' AND state IN ('unconfirmed', 'dead') THEN 'delivered' ELSE state END,
			updated_at = :now
		WHERE id = :id`,
		sql.Named("cid", r.Upstream.ConversionID), sql.Named("clk", r.Upstream.ClickID), sql.Named("rec", r.Upstream.RecordedAt),
		sql.Named("double", r.PossibleDouble), sql.Named("state", r.State), sql.Named("now", ms(now)), sql.Named("id", r.EventID))
	return err
}

// foldUncounted folds an uncounted attempt into an earlier attempt row of
// the event when sidecar.AttemptRows.FoldInto says so, and reports whether
// it did.
func foldUncounted(tx *sql.Tx, eventID string, a sidecar.Attempt, body string) (bool, error) {
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
		ms(a.StartedAt), a.Status, sidecar.CleanText(a.Error), body, a.Duration.Microseconds(), into)
	return err == nil, err
}

// Release gives leased events back without counting the attempt: they are
// due at once. Shutdown uses it for events claimed but never sent.
func (o *Store) Release(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	err := o.writer.write(ctx, func(tx *sql.Tx) error {
		now := ms(o.now())
		for _, id := range ids {
			if _, err := tx.Exec(`UPDATE events SET lease_until = NULL, next_attempt_at = ?, attempts = MAX(attempts - 1, 0), updated_at = ?
				WHERE id = ? AND state = 'queued'`, now, now, id); err != nil {
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

// ErrNotRetryable is returned when an operator retries an event that is
// queued, delivered or duplicate.
var ErrNotRetryable = sidecar.ErrNotRetryable

// Retry requeues rejected, unconfirmed or dead events by id, due now, with
// the retry max age counted afresh. What the event's earlier attempts may
// have landed stays counted: the next answer is read with it. It returns how many were requeued; an id that does not
// exist is a sidecar ENotFound error.
func (o *Store) Retry(ctx context.Context, ids ...string) (int, error) {
	var n int
	err := o.writer.write(ctx, func(tx *sql.Tx) error {
		n = 0
		now := ms(o.now())
		for _, id := range sidecar.UniqueIDs(ids) {
			var state sidecar.State
			var erased bool
			if err := tx.QueryRow(`SELECT state, erased FROM events WHERE id = ?`, id).Scan(&state, &erased); errors.Is(err, sql.ErrNoRows) {
				return &sidecar.Error{Code: sidecar.ENotFound, Message: "no event " + id}
			} else if err != nil {
				return err
			}
			if !state.Retryable() {
				return &sidecar.Error{Code: sidecar.EConflict, Message: fmt.Sprintf("event %s is %s: %v", id, state, ErrNotRetryable), Err: ErrNotRetryable}
			}
			if erased {
				return sidecar.ErasedError(id)
			}
			if _, err := tx.Exec(requeueSQL+` WHERE id = ?`, now, now, now, id); err != nil {
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

const requeueSQL = `UPDATE events SET state = 'queued', next_attempt_at = ?, queued_at = ?, updated_at = ?, lease_until = NULL, finished_at = NULL`

// RetryState requeues every event in a retryable state whose personal
// data was not erased, and returns how many.
func (o *Store) RetryState(ctx context.Context, state sidecar.State) (int, error) {
	if !state.Retryable() {
		return 0, &sidecar.Error{Code: sidecar.EInvalid, Message: fmt.Sprintf("state %q: %v", state, ErrNotRetryable)}
	}
	now := ms(o.now())
	n, err := o.exec(ctx, requeueSQL+` WHERE state = ? AND erased = 0`, now, now, now, state) // an erased event is not sent again
	if err != nil {
		return 0, fmt.Errorf("retry %s events: %w", state, err)
	}
	return n, nil
}

// ResetBackoff makes every queued event that waits for a later retry due
// now: once the upstream has recovered from an outage, nothing need wait out
// a backoff earned while it was down. Leased events are left alone.
func (o *Store) ResetBackoff(ctx context.Context) (int, error) {
	now := ms(o.now())
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
	now := ms(o.now())
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
	err := o.writer.write(ctx, func(tx *sql.Tx) error {
		ids = ids[:0]
		now := o.now()
		rows, err := tx.Query(`UPDATE events SET state = 'dead', finished_at = :now, updated_at = :now, next_attempt_at = :now,
				landed = landed + (lease_until IS NOT NULL), lease_until = NULL,
				possible_double = possible_double OR (landed + (lease_until IS NOT NULL) >= 2 AND `+softMatched+`)
			WHERE state = 'queued' AND queued_at <= :cutoff AND (lease_until IS NULL OR lease_until <= :now)
			RETURNING id`, sql.Named("now", ms(now)), sql.Named("cutoff", ms(now.Add(-maxAge))))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("expire dead events: %w", err)
	}
	return ids, nil
}

// softMatched is true for an event GLP Winner can only soft-match: no click
// id and no session token. Sent twice, it may be recorded twice.
const softMatched = `json_extract(payload, '$.transaction_id') IS NULL AND json_extract(payload, '$.session_token') IS NULL`

// Purge deletes delivered and duplicate events finished more than age ago,
// with their attempts, and returns how many. Their idempotency keys are
// forgotten with them.
func (o *Store) Purge(ctx context.Context, age time.Duration) (int, error) {
	n, err := o.exec(ctx, `DELETE FROM events WHERE state IN ('delivered', 'duplicate') AND finished_at <= ?`, ms(o.now().Add(-age)))
	if err != nil {
		return 0, fmt.Errorf("purge events: %w", err)
	}
	if n > 0 { // the WAL's frames still hold the rows as they were written
		return n, o.truncateWAL(ctx)
	}
	return n, nil
}

// exec runs one statement through the group commit and returns how many
// rows it changed.
func (o *Store) exec(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := o.writer.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
