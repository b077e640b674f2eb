package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Report counts the events accepted on each of the query's days by the
// state they are in now, live or test. Each day is one range of the
// events_report index, which covers the count: the table is not read.
func (o *Store) Report(ctx context.Context, q sidecar.ReportQuery) ([]sidecar.ReportDay, error) {
	days := q.Days()
	stmt, err := o.rdb.PrepareContext(ctx, `SELECT state, COUNT(*), SUM(possible_double) FROM events INDEXED BY events_report
		WHERE created_at >= ? AND created_at < ? AND test = ? GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer stmt.Close()
	for i := range days {
		if err := countDay(ctx, stmt, &days[i], q.Test); err != nil {
			return nil, fmt.Errorf("report %s: %w", days[i].Day, err)
		}
	}
	return days, nil
}

func countDay(ctx context.Context, stmt *sql.Stmt, d *sidecar.ReportDay, test bool) error {
	rows, err := stmt.QueryContext(ctx, sidecar.MS(d.Start), sidecar.MS(d.End), test)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var st sidecar.State
		var n, doubles int
		if err := rows.Scan(&st, &n, &doubles); err != nil {
			return err
		}
		d.Add(st, n, doubles)
	}
	return rows.Err()
}

// ReportRows calls fn with every event, live and test, accepted in the
// query's range, oldest first, for the reconciliation CSV; fn's error ends
// the walk and is returned.
func (o *Store) ReportRows(ctx context.Context, q sidecar.ReportQuery, fn func(sidecar.ReportRow) error) error {
	rows, err := o.rdb.QueryContext(ctx, `SELECT id, json_extract(payload, '$.conversion_id'), json_extract(payload, '$.transaction_id'),
			upstream_conversion_id, upstream_click_id, state, possible_double, created_at, finished_at, test
		FROM events INDEXED BY events_report WHERE created_at >= ? AND created_at < ? ORDER BY created_at, id`, sidecar.MS(q.From), sidecar.MS(q.End()))
	if err != nil {
		return fmt.Errorf("report rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r sidecar.ReportRow
		var conv, click sql.NullString
		var created int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.EventID, &conv, &click, &r.GLPConversionID, &r.GLPClickID, &r.State, &r.PossibleDouble, &created, &finished, &r.Test); err != nil {
			return fmt.Errorf("report rows: %w", err)
		}
		r.ConversionID, r.AcceptedAt, r.FinishedAt = conv.String, sidecar.FromMS(created), sidecar.FromMS(finished.Int64)
		if r.GLPClickID == "" {
			r.GLPClickID = click.String
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report rows: %w", err)
	}
	return nil
}
