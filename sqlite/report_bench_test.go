package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// BenchmarkReport counts a million events, spread over 30 days, into the
// report's days, from the events_report index: the whole month, one day,
// and one day's CSV rows.
func BenchmarkReport(b *testing.B) {
	const events, days = 1_000_000, 30
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	path := filepath.Join(b.TempDir(), "outbox.db")
	fillReport(b, path, events, from, days)
	o, err := Open(Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	month, _ := sidecar.ParseReportQuery("2026-11-01", "2026-11-30", "", false, from)
	day, _ := sidecar.ParseReportQuery("2026-11-15", "2026-11-15", "", false, from)
	for _, bc := range []struct {
		name string
		q    sidecar.ReportQuery
	}{{"30-days", month}, {"one-day", day}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				got, err := o.Report(context.Background(), bc.q)
				if err != nil || len(got) == 0 || got[0].Accepted == 0 {
					b.Fatalf("%v %+v", err, got)
				}
			}
		})
	}
	b.Run("one-day-csv-rows", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := o.ReportRows(context.Background(), day, func(sidecar.ReportRow) error { n++; return nil }); err != nil || n == 0 {
				b.Fatal(err, n)
			}
		}
	})
}

// fillReport writes n finished events, evenly over days from from, in one
// transaction: 90% delivered, the rest duplicate, rejected, unconfirmed,
// dead, queued; one in a hundred a test event.
func fillReport(b *testing.B, path string, n int, from time.Time, days int) {
	b.Helper()
	if err := prepareFile(path); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := migrate(ctx, conn); err != nil {
		b.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO events (id, payload, test, state, next_attempt_at, created_at, queued_at, updated_at, finished_at, upstream_conversion_id, possible_double)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	states := []sidecar.State{sidecar.StateDuplicate, sidecar.StateRejected, sidecar.StateUnconfirmed, sidecar.StateDead, sidecar.StateQueued}
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n)
	for i := 0; i < n; i++ {
		at := sidecar.MS(from.Add(time.Duration(i) * step))
		st := sidecar.StateDelivered
		if i%10 < len(states) && i%20 >= 10 {
			st = states[i%10]
		}
		if _, err := stmt.Exec(fmt.Sprintf("%016x-%08d", at, i), fmt.Sprintf(`{"transaction_id":"c-%d","conversion_id":"o-%d"}`, i, i), i%100 == 0, st,
			at, at, at, at, at, fmt.Sprintf("glp-%d", i), i%1000 == 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
