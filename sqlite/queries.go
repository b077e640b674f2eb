package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Get returns one event with its attempts, oldest first; a missing id is a
// sidecar ENotFound error.
func (o *Store) Get(ctx context.Context, id string) (sidecar.Event, []sidecar.Attempt, error) {
	e, err := sidecar.ScanEvent(o.rdb.QueryRowContext(ctx, `SELECT `+sidecar.EventColumns+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, nil, &sidecar.Error{Code: sidecar.ENotFound, Message: "no event " + id}
	}
	if err != nil {
		return e, nil, fmt.Errorf("get event %s: %w", id, err)
	}
	rows, err := o.rdb.QueryContext(ctx, `SELECT n, started_at, duration_us, status, error, body, outcome, may_have_landed, repeats, last_at
		FROM attempts WHERE event_id = ? ORDER BY id`, id)
	if err != nil {
		return e, nil, fmt.Errorf("get attempts of %s: %w", id, err)
	}
	defer rows.Close()
	attempts := []sidecar.Attempt{}
	for rows.Next() {
		var a sidecar.Attempt
		var started, us int64
		var last sql.NullInt64
		if err := rows.Scan(&a.N, &started, &us, &a.Status, &a.Error, &a.Body, &a.Outcome, &a.MayHaveLanded, &a.Repeats, &last); err != nil {
			return e, nil, err
		}
		a.StartedAt, a.Duration, a.LastAt = sidecar.FromMS(started), time.Duration(us)*time.Microsecond, sidecar.FromMS(last.Int64)
		attempts = append(attempts, a)
	}
	return e, attempts, rows.Err()
}

// MaxListLimit caps one page of List.
const MaxListLimit = sidecar.MaxListLimit

// List returns events newest first: in one state unless state is "", older
// than the event before unless it is "" (for paging), at most limit.
func (o *Store) List(ctx context.Context, state sidecar.State, before string, limit int) ([]sidecar.Event, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	q := `SELECT ` + sidecar.EventColumns + ` FROM events WHERE 1 = 1`
	var args []any
	if state != "" {
		q += ` AND state = ?`
		args = append(args, state)
	}
	if before != "" {
		q += ` AND id < ?`
		args = append(args, before)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := o.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []sidecar.Event{}
	for rows.Next() {
		e, err := sidecar.ScanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Stats counts events per state and finds the oldest queued event.
func (o *Store) Stats(ctx context.Context) (sidecar.Stats, error) {
	s := sidecar.Stats{States: map[sidecar.State]int{}}
	for _, st := range sidecar.States() {
		s.States[st] = 0
	}
	rows, err := o.rdb.QueryContext(ctx, `SELECT state, COUNT(*) FROM events GROUP BY state`)
	if err != nil {
		return s, fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st sidecar.State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return s, err
		}
		s.States[st] = n
	}
	if err := rows.Err(); err != nil {
		return s, err
	}
	var oldest, next sql.NullInt64
	if err := o.rdb.QueryRowContext(ctx, `SELECT (SELECT created_at FROM events WHERE state = 'queued' ORDER BY id LIMIT 1),
		(SELECT MIN(next_attempt_at) FROM events INDEXED BY events_due WHERE state = 'queued'),
		(SELECT COUNT(*) FROM events INDEXED BY events_double WHERE possible_double = 1)`).Scan(&oldest, &next, &s.PossibleDouble); err != nil {
		return s, fmt.Errorf("oldest queued event: %w", err)
	}
	s.OldestQueued, s.NextDue = sidecar.FromMS(oldest.Int64), sidecar.FromMS(next.Int64)
	s.Burst = o.writer.load.bursting()
	return s, nil
}

// NextDue is when the earliest queued event is due, and false when none is
// queued.
func (o *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := o.rdb.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM events INDEXED BY events_due WHERE state = 'queued'`).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("next due event: %w", err)
	}
	return sidecar.FromMS(next.Int64), next.Valid, nil
}
