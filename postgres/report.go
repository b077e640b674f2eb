package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// reportDays counts the events of every day of a report in one statement:
// each day ($1, $2: its bounds) is one range of the events_report index,
// which covers the count.
const reportDays = `SELECT d.n, e.state, COUNT(*), COUNT(*) FILTER (WHERE e.possible_double)
	FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS d(start, "end", n)
	JOIN glp.events e ON e.created_at >= d.start AND e.created_at < d."end" AND e.test = $3
	GROUP BY d.n, e.state`

// Report counts the events accepted on each of the query's days by the
// state they are in now, live or test.
func (s *Store) Report(ctx context.Context, q sidecar.ReportQuery) ([]sidecar.ReportDay, error) {
	days := q.Days()
	starts, ends := make([]int64, len(days)), make([]int64, len(days))
	for i, d := range days {
		starts[i], ends[i] = sidecar.MS(d.Start), sidecar.MS(d.End)
	}
	rows, err := s.pool.Query(ctx, reportDays, starts, ends, q.Test)
	if err != nil {
		return nil, fmt.Errorf("report: %w", s.describe(err))
	}
	var day, n, doubles int
	var st sidecar.State
	_, err = pgx.ForEachRow(rows, []any{&day, &st, &n, &doubles}, func() error {
		days[day-1].Add(st, n, doubles)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", s.describe(err))
	}
	return days, nil
}

// ReportRows calls fn with every event, live and test, accepted in the
// query's range, oldest first, for the reconciliation CSV; fn's error ends
// the walk and is returned.
func (s *Store) ReportRows(ctx context.Context, q sidecar.ReportQuery, fn func(sidecar.ReportRow) error) error {
	rows, err := s.pool.Query(ctx, `SELECT id, payload->>'conversion_id', payload->>'transaction_id',
			upstream_conversion_id, upstream_click_id, state, possible_double, created_at, finished_at, test
		FROM glp.events WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id`, sidecar.MS(q.From), sidecar.MS(q.End()))
	if err != nil {
		return fmt.Errorf("report rows: %w", s.describe(err))
	}
	var r sidecar.ReportRow
	var conv, click *string
	var created int64
	var finished *int64
	var fnErr error
	_, err = pgx.ForEachRow(rows, []any{&r.EventID, &conv, &click, &r.GLPConversionID, &r.GLPClickID, &r.State, &r.PossibleDouble, &created, &finished, &r.Test}, func() error {
		row := r
		row.ConversionID, row.AcceptedAt, row.FinishedAt = derefString(conv), sidecar.FromMS(created), sidecar.FromMS(deref(finished))
		if row.GLPClickID == "" {
			row.GLPClickID = derefString(click)
		}
		fnErr = fn(row)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("report rows: %w", s.describe(err))
	}
	return nil
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
