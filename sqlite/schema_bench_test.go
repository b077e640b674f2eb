package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkInsertRow is what the events table's keys and indexes cost an
// accept. It inserts the row Append inserts, 20 to a transaction (a group
// commit's size at 64 connections), one transaction after another on one
// connection with the outbox's pragmas, into:
//   - outbox: the events table as migrated (the event id its key, the
//     idempotency key's unique index, events_due, events_state);
//   - no-due-no-state: the same without events_due and events_state;
//   - plain: a table of the same columns with no key but its rowid and no
//     index (CREATE TABLE … AS SELECT), as in a bare single writer.
//
// Beside rows/s it reports the process's CPU per row (getrusage), the
// figure that a CPU-bound machine turns into accepts.
func BenchmarkInsertRow(b *testing.B) {
	for _, bc := range []struct{ name, alter string }{
		{"outbox", ""},
		{"no-due-no-state", "DROP INDEX events_due; DROP INDEX events_state"},
		{"plain", "ALTER TABLE events RENAME TO migrated; CREATE TABLE events AS SELECT * FROM migrated WHERE 0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			insert := insertEvent
			if bc.name == "plain" { // no unique index for the conflict clause to name
				insert = strings.TrimSuffix(insertEvent, " ON CONFLICT (idem_key) DO NOTHING")
			}
			db, conn := openRaw(b, bc.alter)
			defer db.Close()
			defer conn.Close()
			payload := strings.Repeat("x", 190) // a conversion as stored
			var tx *sql.Tx
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%20 == 0 {
					var err error
					if tx, err = conn.BeginTx(context.Background(), nil); err != nil {
						b.Fatal(err)
					}
				}
				now := time.Now().UnixMilli()
				if _, err := tx.Exec(insert, uuid.Must(uuid.NewV7()).String(), fmt.Sprint("order-", i), payload, false, "body", now, now, now, now); err != nil {
					b.Fatal(err)
				}
				if i%20 == 19 || i == b.N-1 {
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/row")
		})
	}
}

// openRaw migrates a new outbox file, alters it, and opens it on one
// connection with the outbox's pragmas, checkpointing as SQLite does by
// default rather than on a clock.
func openRaw(b *testing.B, alter string) (*sql.DB, *sql.Conn) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "outbox.db")
	if err := prepareFile(path); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if err := migrate(context.Background(), conn); err != nil {
		b.Fatal(err)
	}
	if alter != "" {
		if _, err := conn.ExecContext(context.Background(), alter); err != nil {
			b.Fatal(err)
		}
	}
	return db, conn
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
