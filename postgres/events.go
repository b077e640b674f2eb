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
// is taken by an earlier row of the same batch) and those whose id is
// already stored (the same batch sent again after its answer was lost:
// ambiguous.go). It returns the ids it stored.
const appendEvents = `INSERT INTO glp.events (id, idem_key, payload, test, click_source, state, next_attempt_at, created_at, queued_at, updated_at)
	SELECT id, NULLIF(key, ''), payload::jsonb, test, source, 'queued', $6, $6, $6, $6
	FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[]) WITH ORDINALITY AS u(id, key, payload, test, source, n)
	ORDER BY n
	ON CONFLICT DO NOTHING RETURNING id`

// firstEvents names the events that hold keys: the duplicates' answers. A
// later statement than the insert, so it sees a key that a concurrent
// accept committed while the insert waited on it.
const firstEvents = `SELECT idem_key, id FROM glp.events WHERE idem_key = ANY($1)`

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
	var stored []string
	err := retryConflicts(ctx, func() error { // its own transaction, serializable under such a default (tx.go)
		rows, err := s.pool.Query(ctx, appendEvents, ids, keys, payloads, tests, sources, sidecar.MS(s.now()))
		if err == nil {
			stored, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		return err
	})
	if ambiguous(err) { // the commit was sent and its answer lost: find out before answering
		stored, err = s.settle(ids, keys, payloads, tests, sources, err)
	}
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
	rows, err := s.pool.Query(ctx, firstEvents, dupKeys)
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

// claimEvents selects the events a claim may lease with FOR UPDATE SKIP
// LOCKED, so that two sidecars claiming at once never take the same event:
// a row another claim holds is skipped, and one it has just leased no
// longer passes the WHERE once that claim commits.
const claimEvents = `SELECT ` + sidecar.EventColumns + ` FROM glp.events WHERE %s ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED`

// Claim leases up to n due events for lease and counts an attempt on each.
func (s *Store) Claim(ctx context.Context, n int, lease time.Duration) ([]sidecar.Event, error) {
	return s.claim(ctx, fmt.Sprintf(claimEvents, `state = 'queued' AND next_attempt_at <= $1`), n, lease)
}

// ClaimProbe leases the queued event that is due first, due or not, unless
// it is leased: the relay probes a failing upstream with it.
func (s *Store) ClaimProbe(ctx context.Context, lease time.Duration) ([]sidecar.Event, error) {
	return s.claim(ctx, fmt.Sprintf(claimEvents, `state = 'queued' AND (lease_until IS NULL OR lease_until <= $1)`), 1, lease)
}

// claim reads the events that query selects and writes what a claim does
// to each (sidecar.Transition), in one transaction.
func (s *Store) claim(ctx context.Context, query string, n int, lease time.Duration) ([]sidecar.Event, error) {
	now := s.clock()
	h := sidecar.Happening{Kind: sidecar.Claim, Lease: now.Add(lease).Truncate(time.Millisecond)}
	// Not cancelled with the relay: a claim that PostgreSQL commits after a
	// cancel would lease events that nobody sends until the lease runs out,
	// and then count them as attempts that may have landed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	var events []sidecar.Event
	var payloads [][]byte
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if events, payloads, err = readEvents(ctx, tx, query, sidecar.MS(now), n); err != nil {
			return err
		}
		if events, err = transitions(events, h, now); err != nil {
			return err
		}
		b := &pgx.Batch{}
		writeEvents(b, events)
		return runBatch(ctx, tx, b)
	})
	if err := s.wrote(err); err != nil {
		return nil, fmt.Errorf("claim events: %w", err)
	}
	for i := range events {
		events[i] = events[i].Claimed()
		if err := events[i].DecodePayload(payloads[i]); err != nil {
			return nil, fmt.Errorf("claim events: %w", err)
		}
	}
	return events, nil
}

// recordReq is one Record waiting for its batch.
type recordReq struct {
	r    sidecar.Result
	done chan error
}

// Record stores the outcome of one delivery attempt: the attempt itself,
// and what it does to the event (sidecar.Transition). Concurrent records
// share one transaction and one commit.
func (s *Store) Record(ctx context.Context, r sidecar.Result) error {
	req := &recordReq{r: r, done: make(chan error, 1)}
	if err := submit(s, ctx, s.records, req, req.done); err != nil {
		return fmt.Errorf("record attempt of %s: %w", r.EventID, err)
	}
	return nil
}

// insertAttempts inserts a batch's counted attempts in one statement.
const insertAttempts = `INSERT INTO glp.attempts (event_id, n, started_at, duration_us, status, error, body, outcome, may_have_landed)
	SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bigint[], $5::integer[], $6::text[], $7::text[], $8::text[], $9::boolean[])`

// recordBatch stores a batch of records in one transaction: it reads the
// events' rows, applies each record in its order (a late record and the
// record of the claim that took its event over may meet in one batch),
// writes the rows and the counted attempts with one round trip, then each
// uncounted attempt (a paused relay's probe, rare), or folds it into an
// earlier row.
func (s *Store) recordBatch(batch []*recordReq) error {
	now := s.clock()
	ids := make([]string, 0, len(batch))
	for _, req := range batch {
		ids = append(ids, req.r.EventID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _, err := readEvents(ctx, tx, `SELECT `+sidecar.EventColumns+` FROM glp.events WHERE id = ANY($1) ORDER BY id FOR UPDATE`, sidecar.UniqueIDs(ids))
		if err != nil {
			return err
		}
		byID := make(map[string]sidecar.Event, len(rows))
		for _, e := range rows {
			byID[e.ID] = e
		}
		var counted, uncounted []sidecar.Result
		for _, req := range batch {
			e, ok := byID[req.r.EventID]
			if !ok {
				return fmt.Errorf("no event %s", req.r.EventID)
			}
			byID[e.ID], _, _ = sidecar.Transition(e, sidecar.Happening{Kind: sidecar.Record, Result: req.r}, now)
			if req.r.Uncounted {
				uncounted = append(uncounted, req.r)
			} else {
				counted = append(counted, req.r)
			}
		}
		written := make([]sidecar.Event, 0, len(byID))
		for _, e := range byID {
			written = append(written, e)
		}
		b := &pgx.Batch{}
		writeEvents(b, written)
		queueAttempts(b, counted)
		if err := runBatch(ctx, tx, b); err != nil {
			return err
		}
		for _, r := range uncounted {
			rows, err := attemptRows(ctx, tx, r.EventID)
			if err != nil {
				return err
			}
			a := r.Attempt
			if into := rows.FoldInto(a); into != 0 {
				_, err = tx.Exec(ctx, `UPDATE glp.attempts SET repeats = repeats + 1, last_at = $1, status = $2, error = $3, body = $4, duration_us = $5
					WHERE id = $6`, sidecar.MS(a.StartedAt), a.Status, sidecar.CleanText(a.Error), sidecar.StoredBody(a.Body), a.Duration.Microseconds(), into)
			} else {
				b := &pgx.Batch{}
				queueAttempts(b, []sidecar.Result{r})
				err = runBatch(ctx, tx, b)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// queueAttempts queues on b the insert of the results' attempts, in their
// order.
func queueAttempts(b *pgx.Batch, results []sidecar.Result) {
	if len(results) == 0 {
		return
	}
	n := len(results)
	var (
		ids, errs, bodies, outcomes = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ns, statuses                = make([]int32, n), make([]int32, n)
		started, us                 = make([]int64, n), make([]int64, n)
		landed                      = make([]bool, n)
	)
	for i, r := range results {
		a := r.Attempt
		ids[i], ns[i], started[i], us[i] = r.EventID, int32(a.N), sidecar.MS(a.StartedAt), a.Duration.Microseconds()
		statuses[i], errs[i], bodies[i], outcomes[i], landed[i] = int32(a.Status), sidecar.CleanText(a.Error), sidecar.StoredBody(a.Body), a.Outcome, a.MayHaveLanded
	}
	b.Queue(insertAttempts, ids, ns, started, us, statuses, errs, bodies, outcomes, landed)
}

// attemptRows reads what an uncounted attempt of the event may fold into
// (see sidecar.AttemptRows).
func attemptRows(ctx context.Context, tx pgx.Tx, eventID string) (sidecar.AttemptRows, error) {
	var r sidecar.AttemptRows
	var lastPaused *int64
	err := tx.QueryRow(ctx, `SELECT id, status, error, body, outcome,
			(SELECT COUNT(*) FROM glp.attempts WHERE event_id = $1 AND outcome = 'paused'),
			(SELECT MAX(id) FROM glp.attempts WHERE event_id = $1 AND outcome = 'paused')
		FROM glp.attempts WHERE event_id = $1 ORDER BY id DESC LIMIT 1`, eventID).
		Scan(&r.LastID, &r.Last.Status, &r.Last.Error, &r.Last.Body, &r.Last.Outcome, &r.Paused, &lastPaused)
	if errors.Is(err, pgx.ErrNoRows) {
		return sidecar.AttemptRows{}, nil
	}
	r.LastPausedID = deref(lastPaused)
	return r, err
}

// change reads the rows query selects (FOR UPDATE), applies h to each and
// writes those it applied to, in one transaction, and returns them.
func (s *Store) change(ctx context.Context, h sidecar.Happening, query string, args ...any) ([]sidecar.Event, error) {
	return s.changeEach(ctx, func(sidecar.Event) sidecar.Happening { return h }, query, args...)
}

// changeEach is change with a happening of each event's own.
func (s *Store) changeEach(ctx context.Context, happening func(sidecar.Event) sidecar.Happening, query string, args ...any) ([]sidecar.Event, error) {
	h := happening(sidecar.Event{}) // its kind: the same for every event
	now := s.clock()
	var changed []sidecar.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		events, payloads, err := readEvents(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		if h.Kind == sidecar.Expire { // the rule reads the conversion: soft-matched or not
			for i := range events {
				if err := events[i].DecodePayload(payloads[i]); err != nil {
					return err
				}
			}
		}
		if changed, err = transitionsEach(events, happening, now); err != nil {
			return err
		}
		b := &pgx.Batch{}
		writeEvents(b, changed)
		return runBatch(ctx, tx, b)
	})
	return changed, err
}

// Release gives leased events back without counting the attempt: they are
// due at once, for whichever sidecar is free. Each only while the caller
// holds the lease it names (sidecar.Transition): a stale holder's release
// changes nothing.
func (s *Store) Release(ctx context.Context, leases ...sidecar.Lease) error {
	if len(leases) == 0 {
		return nil
	}
	ids, held := make([]string, len(leases)), make(map[string]time.Time, len(leases))
	for i, l := range leases {
		ids[i], held[l.EventID] = l.EventID, l.Until
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	_, err := s.changeEach(ctx, func(e sidecar.Event) sidecar.Happening {
		return sidecar.Happening{Kind: sidecar.Release, Lease: held[e.ID]}
	}, `SELECT `+sidecar.EventColumns+` FROM glp.events WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err := s.wrote(err); err != nil {
		return fmt.Errorf("release events: %w", err)
	}
	s.wake()
	return nil
}

// Retry requeues rejected, unconfirmed or dead events by id, all or none
// (sidecar.Transition says which may be), and returns how many; an id that
// does not exist is a sidecar ENotFound error.
func (s *Store) Retry(ctx context.Context, ids ...string) (int, error) {
	now := s.clock()
	ids = sidecar.UniqueIDs(ids)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		events, _, err := readEvents(ctx, tx, `SELECT `+sidecar.EventColumns+` FROM glp.events WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		byID := make(map[string]sidecar.Event, len(events))
		for _, e := range events {
			byID[e.ID] = e
		}
		requeued := make([]sidecar.Event, 0, len(ids))
		for _, id := range ids {
			e, ok := byID[id]
			if !ok {
				return &sidecar.Error{Code: sidecar.ENotFound, Message: "no event " + id}
			}
			e, _, err := sidecar.Transition(e, sidecar.Happening{Kind: sidecar.Retry}, now)
			if err != nil {
				return err
			}
			requeued = append(requeued, e)
		}
		b := &pgx.Batch{}
		writeEvents(b, requeued)
		return runBatch(ctx, tx, b)
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

// RetryState requeues every event in a retryable state that may be sent
// again (not one whose personal data was erased), and returns how many.
func (s *Store) RetryState(ctx context.Context, state sidecar.State) (int, error) {
	if !state.Retryable() {
		return 0, &sidecar.Error{Code: sidecar.EInvalid, Message: fmt.Sprintf("state %q: %v", state, sidecar.ErrNotRetryable)}
	}
	now := s.clock()
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		events, _, err := readEvents(ctx, tx, `SELECT `+sidecar.EventColumns+` FROM glp.events WHERE state = $1 ORDER BY id FOR UPDATE`, string(state))
		if err != nil {
			return err
		}
		requeued := events[:0]
		for _, e := range events {
			e, ok, err := sidecar.Transition(e, sidecar.Happening{Kind: sidecar.Retry}, now)
			if ok && err == nil { // an erased event is refused: not sent again
				requeued = append(requeued, e)
			}
		}
		n = len(requeued)
		b := &pgx.Batch{}
		writeEvents(b, requeued)
		return runBatch(ctx, tx, b)
	})
	if err := s.wrote(err); err != nil {
		return 0, fmt.Errorf("retry %s events: %w", state, err)
	}
	s.wake()
	return n, nil
}

// ResetBackoff makes every queued event that waits for a later retry due
// now. Leased events are left alone.
func (s *Store) ResetBackoff(ctx context.Context) (int, error) {
	n, err := s.exec(ctx, `UPDATE glp.events SET next_attempt_at = $1 WHERE state = 'queued' AND next_attempt_at > $1 AND lease_until IS NULL`, sidecar.MS(s.now()))
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
	n, err := s.exec(ctx, `UPDATE glp.events SET queued_at = $1 WHERE state = 'queued'`, sidecar.MS(s.now()))
	if err != nil {
		return 0, fmt.Errorf("restart retry age: %w", err)
	}
	return n, nil
}

// ExpireDead marks dead the queued events still undelivered maxAge after
// they were queued, unless leased, and returns their ids.
func (s *Store) ExpireDead(ctx context.Context, maxAge time.Duration) ([]string, error) {
	now := s.clock()
	expired, err := s.change(ctx, sidecar.Happening{Kind: sidecar.Expire, MaxAge: maxAge},
		`SELECT `+sidecar.EventColumns+` FROM glp.events WHERE state = 'queued' AND queued_at <= $1 ORDER BY id FOR UPDATE SKIP LOCKED`, sidecar.MS(now.Add(-maxAge)))
	if err := s.wrote(err); err != nil {
		return nil, fmt.Errorf("expire dead events: %w", err)
	}
	ids := make([]string, len(expired))
	for i, e := range expired {
		ids[i] = e.ID
	}
	return ids, nil
}

// importEvent copies one event from another store as it stands there, its
// lease ended; an event whose id or key is already here is skipped.
const importEvent = `INSERT INTO glp.events (id, idem_key, payload, test, click_source, state, attempts, next_attempt_at, lease_until,
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
		b.Queue(importEvent, e.ID, e.Key, string(payload), e.Test, e.ClickSource, string(e.State), e.Attempts, sidecar.MS(e.NextAttemptAt),
			e.LastStatus, e.LastError, e.LastBody, e.Upstream.ConversionID, e.Upstream.ClickID, e.Upstream.RecordedAt,
			sidecar.MS(e.CreatedAt), sidecar.MS(e.QueuedAt), sidecar.MS(e.UpdatedAt), finished, e.Erased, e.Landed, e.PossibleDouble, e.RefusedAlone, msOrZero(e.LastRefusedAt))
	}
	copied := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
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
	return sidecar.MS(t)
}
