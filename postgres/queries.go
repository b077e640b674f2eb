package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
)

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// Get returns one event with its attempts, oldest first; a missing id is a
// sidecar ENotFound error.
func (s *Store) Get(ctx context.Context, id string) (sidecar.Event, []sidecar.Attempt, error) {
	e, err := sidecar.ScanEvent(s.pool.QueryRow(ctx, `SELECT `+sidecar.EventColumns+` FROM glp.events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, nil, &sidecar.Error{Code: sidecar.ENotFound, Message: "no event " + id}
	}
	if err != nil {
		return e, nil, fmt.Errorf("get event %s: %w", id, s.describe(err))
	}
	rows, err := s.pool.Query(ctx, `SELECT n, started_at, duration_us, status, error, body, outcome, may_have_landed, repeats, last_at
		FROM glp.attempts WHERE event_id = $1 ORDER BY id`, id)
	if err != nil {
		return e, nil, fmt.Errorf("get attempts of %s: %w", id, s.describe(err))
	}
	attempts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sidecar.Attempt, error) {
		var a sidecar.Attempt
		var started, us int64
		var last *int64
		err := row.Scan(&a.N, &started, &us, &a.Status, &a.Error, &a.Body, &a.Outcome, &a.MayHaveLanded, &a.Repeats, &last)
		a.StartedAt, a.Duration, a.LastAt = sidecar.FromMS(started), time.Duration(us)*time.Microsecond, sidecar.FromMS(deref(last))
		return a, err
	})
	if err != nil {
		return e, nil, fmt.Errorf("get attempts of %s: %w", id, s.describe(err))
	}
	if attempts == nil {
		attempts = []sidecar.Attempt{}
	}
	return e, attempts, nil
}

// List returns events newest first: in one state unless state is "", older
// than the event before unless it is "" (for paging), at most limit.
func (s *Store) List(ctx context.Context, state sidecar.State, before string, limit int) ([]sidecar.Event, error) {
	if limit <= 0 || limit > sidecar.MaxListLimit {
		limit = sidecar.MaxListLimit
	}
	q, args := `SELECT `+sidecar.EventColumns+` FROM glp.events WHERE true`, []any{}
	if state != "" {
		args = append(args, string(state))
		q += fmt.Sprintf(` AND state = $%d`, len(args))
	}
	if before != "" {
		args = append(args, before)
		q += fmt.Sprintf(` AND id < $%d`, len(args))
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", s.describe(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sidecar.Event, error) { return sidecar.ScanEvent(row) })
	if err != nil {
		return nil, fmt.Errorf("list events: %w", s.describe(err))
	}
	if out == nil {
		out = []sidecar.Event{}
	}
	return out, nil
}

// Stats counts events per state and finds the oldest queued event.
func (s *Store) Stats(ctx context.Context) (sidecar.Stats, error) {
	st := sidecar.Stats{States: map[sidecar.State]int{}}
	for _, state := range sidecar.States() {
		st.States[state] = 0
	}
	rows, err := s.pool.Query(ctx, `SELECT state, COUNT(*) FROM glp.events GROUP BY state`)
	if err != nil {
		return st, fmt.Errorf("count events: %w", s.describe(err))
	}
	var state sidecar.State
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&state, &n}, func() error { st.States[state] = n; return nil }); err != nil {
		return st, fmt.Errorf("count events: %w", s.describe(err))
	}
	var oldest, next *int64
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT created_at FROM glp.events WHERE state = 'queued' ORDER BY id LIMIT 1),
		(SELECT MIN(next_attempt_at) FROM glp.events WHERE state = 'queued'),
		(SELECT COUNT(*) FROM glp.events WHERE possible_double)`).Scan(&oldest, &next, &st.PossibleDouble); err != nil {
		return st, fmt.Errorf("oldest queued event: %w", s.describe(err))
	}
	st.OldestQueued, st.NextDue = sidecar.FromMS(deref(oldest)), sidecar.FromMS(deref(next))
	return st, nil
}

// NextDue is when the earliest queued event is due, and false when none is
// queued.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next *int64
	if err := s.pool.QueryRow(ctx, `SELECT MIN(next_attempt_at) FROM glp.events WHERE state = 'queued'`).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("next due event: %w", s.describe(err))
	}
	return sidecar.FromMS(deref(next)), next != nil, nil
}
