package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Append stores a new event, queued and due now, and returns its id once it
// is committed. An event whose key was already accepted is not stored again:
// the answer names the first event and says Duplicate. Concurrent appends
// share one statement and one commit (see appender).
func (s *Store) Append(ctx context.Context, e sidecar.NewEvent) (sidecar.Appended, error) {
	payload, err := json.Marshal(e.Conversion)
	if err != nil {
		return sidecar.Appended{}, fmt.Errorf("encode conversion: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return sidecar.Appended{}, fmt.Errorf("event id: %w", err)
	}
	req := &appendReq{id: id.String(), key: e.Key, payload: string(payload), test: e.Test, source: e.ClickSource, done: make(chan error, 1)}
	if err := submit(s, ctx, s.appends, req, req.done); err != nil {
		return sidecar.Appended{}, fmt.Errorf("append event: %w", err)
	}
	if req.err != nil {
		return sidecar.Appended{}, fmt.Errorf("append event: %w", req.err)
	}
	return req.out, nil
}

// appendReq is one Append waiting for its batch.
type appendReq struct {
	id, key, payload, source string
	test                     bool
	out                      sidecar.Appended
	err                      error // a duplicate whose first event could not be read
	done                     chan error
}

// appendEvents is a batch of accepts in one statement: new events, queued
// and due now, except those whose idempotency key was already accepted (or
// is taken by an earlier row of the same batch). It returns the ids it
// stored.
const appendEvents = `INSERT INTO events (id, idem_key, payload, test, click_source, state, next_attempt_at, created_at, queued_at, updated_at)
	SELECT id, NULLIF(key, ''), payload::jsonb, test, source, 'queued', $6, $6, $6, $6
	FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[]) WITH ORDINALITY AS u(id, key, payload, test, source, n)
	ORDER BY n
	ON CONFLICT (idem_key) DO NOTHING RETURNING id`

// firstEvents names the events that hold keys: the duplicates' answers. A
// later statement than the insert, so it sees a key that a concurrent
// accept committed while the insert waited on it.
const firstEvents = `SELECT idem_key, id FROM events WHERE idem_key = ANY($1)`

// appendBatch stores a batch of appends with one statement, committed
// before it returns, and then reads the first events of the duplicates. An
// error is the batch's: nothing was stored. Once the insert is committed,
// a failure to read a first event is that duplicate's alone.
func (s *Store) appendBatch(batch []*appendReq) error {
	n := len(batch)
	ids, keys, payloads, tests, sources := make([]string, n), make([]string, n), make([]string, n), make([]bool, n), make([]string, n)
	for i, r := range batch {
		ids[i], keys[i], payloads[i], tests[i], sources[i] = r.id, r.key, r.payload, r.test, r.source
	}
	// Detached from every caller: a client that hangs up must not cancel
	// the commit its neighbours wait for; the statement is bounded instead.
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, appendEvents, ids, keys, payloads, tests, sources, ms(s.now()))
	if err != nil {
		return err
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	inserted := make(map[string]bool, len(stored))
	for _, id := range stored {
		inserted[id] = true
	}
	var dupKeys []string
	for _, r := range batch {
		if inserted[r.id] {
			r.out = sidecar.Appended{ID: r.id}
		} else {
			dupKeys = append(dupKeys, r.key)
		}
	}
	if len(inserted) > 0 {
		s.wake()
	}
	if len(dupKeys) == 0 {
		return nil
	}
	holders := map[string]string{}
	rows, err = s.pool.Query(ctx, firstEvents, dupKeys)
	if err == nil {
		var key, id string
		_, err = pgx.ForEachRow(rows, []any{&key, &id}, func() error { holders[key] = id; return nil })
	}
	err = s.describe(err)
	for _, r := range batch {
		switch {
		case inserted[r.id]:
		case err != nil:
			r.err = fmt.Errorf("read the first event of key %q: %w", r.key, err)
		case holders[r.key] == "":
			r.err = fmt.Errorf("key %q was neither stored nor found", r.key)
		default:
			r.out = sidecar.Appended{ID: holders[r.key], Duplicate: true}
		}
	}
	return nil
}

// claimEvents leases events in one statement; the subquery takes the rows
// it may lease with FOR UPDATE SKIP LOCKED, so that two sidecars claiming at
// once never take the same event: a row another claim holds is skipped, and
// one it has just leased no longer passes the WHERE when it is re-read. A
// lease still set when the event is claimed again was neither recorded nor
// released: the sidecar that held it died, maybe with the request written.
// That attempt may have landed (SET reads the row as it was).
const claimEvents = `UPDATE events SET lease_until = $1, next_attempt_at = $1, attempts = attempts + 1, updated_at = $2,
		landed = landed + (lease_until IS NOT NULL)::integer
	WHERE id IN (SELECT id FROM events WHERE %s ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
	RETURNING id, payload, test, click_source, attempts, created_at, queued_at, landed, refused_alone, last_refused_at`

// Claim leases up to n due events for lease and counts an attempt on each.
func (s *Store) Claim(ctx context.Context, n int, lease time.Duration) ([]sidecar.Event, error) {
	return s.claim(ctx, fmt.Sprintf(claimEvents, `state = 'queued' AND next_attempt_at <= $2`), n, lease)
}

// ClaimProbe leases the queued event that is due first, due or not, unless
// it is leased: the relay probes a failing upstream with it.
func (s *Store) ClaimProbe(ctx context.Context, lease time.Duration) ([]sidecar.Event, error) {
	return s.claim(ctx, fmt.Sprintf(claimEvents, `state = 'queued' AND (lease_until IS NULL OR lease_until <= $2)`), 1, lease)
}

func (s *Store) claim(ctx context.Context, query string, n int, lease time.Duration) ([]sidecar.Event, error) {
	now := s.now()
	until, updated := fromMS(ms(now.Add(lease))), fromMS(ms(now)) // as stored: milliseconds
	// Not cancelled with the relay: a claim that PostgreSQL commits after a
	// cancel would lease events that nobody sends until the lease runs out,
	// and then count them as attempts that may have landed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, query, ms(until), ms(now), n)
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", s.wrote(err))
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sidecar.Event, error) {
		e := sidecar.Event{State: sidecar.StateQueued, NextAttemptAt: until, LeaseUntil: until, UpdatedAt: updated}
		var payload []byte
		var created, queued int64
		var refusedAt *int64
		if err := row.Scan(&e.ID, &payload, &e.Test, &e.ClickSource, &e.Attempts, &created, &queued, &e.Landed, &e.RefusedAlone, &refusedAt); err != nil {
			return e, err
		}
		e.CreatedAt, e.QueuedAt, e.LastRefusedAt = fromMS(created), fromMS(queued), fromMS(deref(refusedAt))
		e.MayHaveLanded = e.Landed > 0
		return e, e.DecodePayload(payload)
	})
	if err := s.wrote(err); err != nil {
		return nil, fmt.Errorf("claim events: %w", err)
	}
	return events, nil
}

// recordAttempts ends delivery attempts in one statement: each event's new
// state (or next attempt time), what its answer told about what GLP Winner
// holds, and the lease's end; and the attempts, except those a row marks
// as folded into an earlier one (ins false: see sidecar.AttemptRows).
const recordAttempts = `WITH r AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[], $5::integer[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::bigint[], $12::integer[], $13::bigint[], $14::bigint[], $15::text[],
			$17::boolean[], $18::boolean[], $19::boolean[], $20::boolean[], $21::bigint[])
			WITH ORDINALITY AS u(id, state, next, uncount, status, error, body, conv, click, recorded, finished, n, started, us, outcome,
				landed, double, refused, ins, lease, ord)),
	upd AS (
		UPDATE events e SET state = CASE WHEN r.state IN ('unconfirmed', 'dead') AND e.upstream_conversion_id != '' THEN 'delivered' ELSE r.state END,
			next_attempt_at = r.next, lease_until = NULL, attempts = GREATEST(e.attempts - r.uncount, 0),
			last_status = r.status, last_error = r.error, last_body = r.body,
			upstream_conversion_id = CASE WHEN r.conv = '' THEN e.upstream_conversion_id ELSE r.conv END,
			upstream_click_id = CASE WHEN r.click = '' THEN e.upstream_click_id ELSE r.click END,
			upstream_recorded_at = CASE WHEN r.recorded = '' THEN e.upstream_recorded_at ELSE r.recorded END,
			landed = e.landed + r.landed::integer, possible_double = e.possible_double OR r.double,
			refused_alone = e.refused_alone + r.refused::integer, last_refused_at = CASE WHEN r.refused THEN $16 ELSE e.last_refused_at END,
			updated_at = $16, finished_at = r.finished
		FROM r WHERE e.id = r.id AND e.state = 'queued' AND (r.lease = 0 OR e.lease_until = r.lease)),
	late AS ( -- a record under a lease the event no longer holds: see sidecar.Result.LeaseUntil
		UPDATE events e SET
			upstream_conversion_id = CASE WHEN r.conv = '' OR r.state != 'delivered' THEN e.upstream_conversion_id ELSE r.conv END,
			upstream_click_id = CASE WHEN r.click = '' OR r.state != 'delivered' THEN e.upstream_click_id ELSE r.click END,
			upstream_recorded_at = CASE WHEN r.recorded = '' OR r.state != 'delivered' THEN e.upstream_recorded_at ELSE r.recorded END,
			possible_double = e.possible_double OR r.double,
			state = CASE WHEN r.state = 'delivered' AND e.state IN ('unconfirmed', 'dead') THEN 'delivered' ELSE e.state END,
			updated_at = $16
		FROM r WHERE e.id = r.id AND NOT (e.state = 'queued' AND (r.lease = 0 OR e.lease_until IS NOT DISTINCT FROM r.lease)))
	INSERT INTO attempts (event_id, n, started_at, duration_us, status, error, body, outcome, may_have_landed)
	SELECT id, n, started, us, status, error, body, outcome, landed FROM r WHERE ins ORDER BY ord`

// recordReq is one Record waiting for its batch.
type recordReq struct {
	r    sidecar.Result
	done chan error
}

// Record stores the outcome of one delivery attempt: the attempt itself, and
// the event's new state (or, for StateQueued, its next attempt time), and
// ends the lease. Concurrent records share one statement and one commit.
func (s *Store) Record(ctx context.Context, r sidecar.Result) error {
	req := &recordReq{r: r, done: make(chan error, 1)}
	if err := submit(s, ctx, s.records, req, req.done); err != nil {
		return fmt.Errorf("record attempt of %s: %w", r.EventID, err)
	}
	return nil
}

// recordBatch stores a batch of records in one transaction: the counted
// attempts with one statement, then each uncounted one (a paused relay's
// probe, rare) with the same statement, or folded into an earlier row.
func (s *Store) recordBatch(batch []*recordReq) error {
	now := s.now()
	var counted, uncounted []sidecar.Result
	for _, req := range batch {
		if req.r.Uncounted {
			uncounted = append(uncounted, req.r)
		} else {
			counted = append(counted, req.r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	rounds := apart(counted)
	if len(uncounted) == 0 && len(rounds) == 1 { // the common case: one statement, its own transaction
		_, err := s.pool.Exec(ctx, recordAttempts, recordArgs(counted, nil, now)...)
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, round := range rounds {
			if _, err := tx.Exec(ctx, recordAttempts, recordArgs(round, nil, now)...); err != nil {
				return err
			}
		}
		for _, r := range uncounted {
			rows, err := attemptRows(ctx, tx, r.EventID)
			if err != nil {
				return err
			}
			into := rows.FoldInto(r.Attempt)
			if _, err := tx.Exec(ctx, recordAttempts, recordArgs([]sidecar.Result{r}, []bool{into == 0}, now)...); err != nil {
				return err
			}
			if into != 0 {
				a := r.Attempt
				if _, err := tx.Exec(ctx, `UPDATE attempts SET repeats = repeats + 1, last_at = $1, status = $2, error = $3, body = $4, duration_us = $5
					WHERE id = $6`, ms(a.StartedAt), a.Status, sidecar.CleanText(a.Error), sidecar.StoredBody(a.Body), a.Duration.Microseconds(), into); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// apart splits results into rounds in which no event appears twice, in
// their order: one statement applies only one of two updates of a row, so
// a late record and the record of the claim that took its event over (see
// sidecar.Result.LeaseUntil) go in statements of their own, one after the
// other. Nil for no results.
func apart(results []sidecar.Result) [][]sidecar.Result {
	var rounds [][]sidecar.Result
	var seen []map[string]bool
	for _, r := range results {
		i := 0
		for i < len(rounds) && seen[i][r.EventID] {
			i++
		}
		if i == len(rounds) {
			rounds, seen = append(rounds, nil), append(seen, map[string]bool{})
		}
		rounds[i], seen[i][r.EventID] = append(rounds[i], r), true
	}
	return rounds
}

// attemptRows reads what an uncounted attempt of the event may fold into
// (see sidecar.AttemptRows).
func attemptRows(ctx context.Context, tx pgx.Tx, eventID string) (sidecar.AttemptRows, error) {
	var r sidecar.AttemptRows
	var lastPaused *int64
	err := tx.QueryRow(ctx, `SELECT id, status, error, body, outcome,
			(SELECT COUNT(*) FROM attempts WHERE event_id = $1 AND outcome = 'paused'),
			(SELECT MAX(id) FROM attempts WHERE event_id = $1 AND outcome = 'paused')
		FROM attempts WHERE event_id = $1 ORDER BY id DESC LIMIT 1`, eventID).
		Scan(&r.LastID, &r.Last.Status, &r.Last.Error, &r.Last.Body, &r.Last.Outcome, &r.Paused, &lastPaused)
	if errors.Is(err, pgx.ErrNoRows) {
		return sidecar.AttemptRows{}, nil
	}
	r.LastPausedID = deref(lastPaused)
	return r, err
}

// recordArgs are recordAttempts' arguments for results; ins says which
// attempts get a row of their own (nil: all).
func recordArgs(results []sidecar.Result, ins []bool, now time.Time) []any {
	n := len(results)
	var (
		ids, states, errs, bodies, convs, clicks, recorded, outcomes = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		next, started, us                                            = make([]int64, n), make([]int64, n), make([]int64, n)
		uncount, statuses, attempts                                  = make([]int32, n), make([]int32, n), make([]int32, n)
		finished                                                     = make([]*int64, n)
		landed, doubles, refused                                     = make([]bool, n), make([]bool, n), make([]bool, n)
		leases                                                       = make([]int64, n)
	)
	if ins == nil {
		ins = make([]bool, n)
		for i := range ins {
			ins[i] = true
		}
	}
	for i, r := range results {
		a := r.Attempt
		ids[i], states[i], errs[i], bodies[i], outcomes[i] = r.EventID, string(r.State), sidecar.CleanText(a.Error), sidecar.StoredBody(a.Body), a.Outcome
		convs[i], clicks[i], recorded[i] = r.Upstream.ConversionID, r.Upstream.ClickID, r.Upstream.RecordedAt
		next[i] = ms(r.NextAttemptAt)
		if r.State != sidecar.StateQueued || next[i] == 0 {
			next[i] = ms(now)
		}
		if r.State != sidecar.StateQueued {
			f := ms(now)
			finished[i] = &f
		}
		if r.Uncounted {
			uncount[i] = 1
		}
		statuses[i], attempts[i], started[i], us[i] = int32(a.Status), int32(a.N), ms(a.StartedAt), a.Duration.Microseconds()
		landed[i], doubles[i], refused[i] = a.MayHaveLanded, r.PossibleDouble, r.RefusedAlone
		leases[i] = msOrZero(r.LeaseUntil)
	}
	return []any{ids, states, next, uncount, statuses, errs, bodies, convs, clicks, recorded, finished,
		attempts, started, us, outcomes, ms(now), landed, doubles, refused, ins, leases}
}

// Release gives leased events back without counting the attempt: they are
// due at once, for whichever sidecar is free.
func (s *Store) Release(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	now := ms(s.now())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if _, err := s.exec(ctx, `UPDATE events SET lease_until = NULL, next_attempt_at = $1, attempts = GREATEST(attempts - 1, 0), updated_at = $1
		WHERE id = ANY($2) AND state = 'queued'`, now, ids); err != nil {
		return fmt.Errorf("release events: %w", err)
	}
	s.wake()
	return nil
}

const requeue = `UPDATE events SET state = 'queued', next_attempt_at = $1, queued_at = $1, updated_at = $1, lease_until = NULL, finished_at = NULL`

// Retry requeues rejected or dead events by id, due now, with the retry max
// age counted afresh, all or none. It returns how many were requeued; an id
// that does not exist is a sidecar ENotFound error.
func (s *Store) Retry(ctx context.Context, ids ...string) (int, error) {
	now := ms(s.now())
	ids = sidecar.UniqueIDs(ids)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, state, erased FROM events WHERE id = ANY($1) FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		states := map[string]sidecar.State{}
		erased := map[string]bool{}
		var id string
		var state sidecar.State
		var gone bool
		if _, err := pgx.ForEachRow(rows, []any{&id, &state, &gone}, func() error { states[id], erased[id] = state, gone; return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			state, ok := states[id]
			if !ok {
				return &sidecar.Error{Code: sidecar.ENotFound, Message: "no event " + id}
			}
			if !state.Retryable() {
				return &sidecar.Error{Code: sidecar.EConflict, Message: fmt.Sprintf("event %s is %s: %v", id, state, sidecar.ErrNotRetryable), Err: sidecar.ErrNotRetryable}
			}
			if erased[id] {
				return sidecar.ErasedError(id)
			}
		}
		_, err = tx.Exec(ctx, requeue+` WHERE id = ANY($2)`, now, ids)
		return err
	})
	var se *sidecar.Error
	if !errors.As(err, &se) {
		err = s.wrote(err)
	}
	if err != nil {
		return 0, fmt.Errorf("retry events: %w", err)
	}
	s.wake()
	return len(ids), nil
}

// RetryState requeues every event in a retryable state whose personal
// data was not erased, and returns how many.
func (s *Store) RetryState(ctx context.Context, state sidecar.State) (int, error) {
	if !state.Retryable() {
		return 0, &sidecar.Error{Code: sidecar.EInvalid, Message: fmt.Sprintf("state %q: %v", state, sidecar.ErrNotRetryable)}
	}
	n, err := s.exec(ctx, requeue+` WHERE state = $2 AND NOT erased`, ms(s.now()), string(state)) // an erased event is not sent again
	if err != nil {
		return 0, fmt.Errorf("retry %s events: %w", state, err)
	}
	s.wake()
	return n, nil
}

// ResetBackoff makes every queued event that waits for a later retry due
// now. Leased events are left alone.
func (s *Store) ResetBackoff(ctx context.Context) (int, error) {
	n, err := s.exec(ctx, `UPDATE events SET next_attempt_at = $1 WHERE state = 'queued' AND next_attempt_at > $1 AND lease_until IS NULL`, ms(s.now()))
	if err != nil {
		return 0, fmt.Errorf("reset backoff: %w", err)
	}
	if n > 0 {
		s.wake()
	}
	return n, nil
}

// RestartAge counts the retry max age of every queued event afresh from now.
func (s *Store) RestartAge(ctx context.Context) (int, error) {
	n, err := s.exec(ctx, `UPDATE events SET queued_at = $1 WHERE state = 'queued'`, ms(s.now()))
	if err != nil {
		return 0, fmt.Errorf("restart retry age: %w", err)
	}
	return n, nil
}

// ExpireDead marks dead the queued events still undelivered maxAge after
// they were queued, unless leased, and returns their ids. A lease that ran
// out counts as an attempt that may have landed, as in a claim.
func (s *Store) ExpireDead(ctx context.Context, maxAge time.Duration) ([]string, error) {
	now := s.now()
	rows, err := s.pool.Query(ctx, `UPDATE events SET state = 'dead', finished_at = $1, updated_at = $1, next_attempt_at = $1,
			landed = landed + (lease_until IS NOT NULL)::integer, lease_until = NULL,
			possible_double = possible_double OR (landed + (lease_until IS NOT NULL)::integer >= 2 AND `+softMatched+`)
		WHERE state = 'queued' AND queued_at <= $2 AND (lease_until IS NULL OR lease_until <= $1)
		RETURNING id`, ms(now), ms(now.Add(-maxAge)))
	var ids []string
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err := s.wrote(err); err != nil {
		return nil, fmt.Errorf("expire dead events: %w", err)
	}
	return ids, nil
}

// softMatched is true for an event GLP Winner can only soft-match: no click
// id and no session token. Sent twice, it may be recorded twice.
const softMatched = `payload->>'transaction_id' IS NULL AND payload->>'session_token' IS NULL`

// retain is retention's one statement: it erases the email, IP and
// session token of events finished before the cutoff ($1), with the
// upstream's answers to them, deletes the clicks logged before it, and
// counts the events it erased.
const retain = `WITH erased AS (
		UPDATE events SET payload = payload - 'email' - 'ip' - 'session_token', last_body = '', erased = true
		WHERE finished_at IS NOT NULL AND NOT erased AND finished_at <= $1 RETURNING id),
	bodies AS (UPDATE attempts SET body = '' WHERE body != '' AND event_id IN (SELECT id FROM erased)),
	clicks AS (DELETE FROM clicks WHERE at <= $1)
	SELECT COUNT(*) FROM erased`

// Retain erases the email, IP and session token of events finished more
// than age ago (these are patients of telehealth providers), with the
// upstream's answers to them, and deletes clicks logged more than age ago,
// in one statement; it returns how many events it erased. The old row
// versions stay in the table's pages until VACUUM reclaims them
// (autovacuum does, on its own schedule: see docs/postgres.md).
func (s *Store) Retain(ctx context.Context, age time.Duration) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, retain, ms(s.now().Add(-age))).Scan(&n)
	if err := s.wrote(err); err != nil {
		return 0, fmt.Errorf("erase personal data: %w", err)
	}
	return n, nil
}

// Purge deletes delivered and duplicate events finished more than age ago,
// with their attempts, and returns how many. Their idempotency keys are
// forgotten with them.
func (s *Store) Purge(ctx context.Context, age time.Duration) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM events WHERE state IN ('delivered', 'duplicate') AND finished_at <= $1`, ms(s.now().Add(-age)))
	if err != nil {
		return 0, fmt.Errorf("purge events: %w", err)
	}
	return n, nil
}

// importEvent copies one event from another store as it stands there, its
// lease ended; an event whose id or key is already here is skipped.
const importEvent = `INSERT INTO events (id, idem_key, payload, test, click_source, state, attempts, next_attempt_at, lease_until,
		last_status, last_error, last_body, upstream_conversion_id, upstream_click_id, upstream_recorded_at,
		created_at, queued_at, updated_at, finished_at, erased, landed, possible_double, refused_alone, last_refused_at)
	VALUES ($1, NULLIF($2, ''), $3::jsonb, $4, $5, $6, $7, $8, NULL, $9, $10, $11, $12, $13, $14, $15, $16, $17, NULLIF($18::bigint, 0), $19,
		$20, $21, $22, NULLIF($23::bigint, 0))
	ON CONFLICT DO NOTHING`

// Import copies events from another store (sidecar outbox migrate), keeping
// their ids, keys, states, answers and times, in one transaction; their
// attempts stay behind. An event whose id or key is already here is
// skipped, so that an import can run again. It returns how many it copied.
func (s *Store) Import(ctx context.Context, events []sidecar.Event) (int, error) {
	b := &pgx.Batch{}
	for _, e := range events {
		payload, err := json.Marshal(e.Conversion)
		if err != nil {
			return 0, fmt.Errorf("import event %s: %w", e.ID, err)
		}
		finished := msOrZero(e.FinishedAt)
		if e.State == sidecar.StateQueued && !e.LeaseUntil.IsZero() {
			e.Landed++ // a lease a crashed sidecar left: that attempt may have landed, as a claim here would have counted it
		}
		b.Queue(importEvent, e.ID, e.Key, string(payload), e.Test, e.ClickSource, string(e.State), e.Attempts, ms(e.NextAttemptAt),
			e.LastStatus, e.LastError, e.LastBody, e.Upstream.ConversionID, e.Upstream.ClickID, e.Upstream.RecordedAt,
			ms(e.CreatedAt), ms(e.QueuedAt), ms(e.UpdatedAt), finished, e.Erased, e.Landed, e.PossibleDouble, e.RefusedAlone, msOrZero(e.LastRefusedAt))
	}
	copied := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		copied = 0
		res := tx.SendBatch(ctx, b)
		for range events {
			tag, err := res.Exec()
			if err != nil {
				res.Close()
				return err
			}
			copied += int(tag.RowsAffected())
		}
		return res.Close()
	})
	if err := s.wrote(err); err != nil {
		return 0, fmt.Errorf("import events: %w", err)
	}
	if copied > 0 {
		s.wake()
	}
	return copied, nil
}

// msOrZero is t in milliseconds, or 0 (stored as NULL) for no time.
func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return ms(t)
}
