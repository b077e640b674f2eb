package sqlite

import (
	"context"
	"fmt"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// After an erasure: how much free space goes back, and how hard the WAL is
// truncated.
const (
	vacuumPages   = 4096 // free pages given back to the file system per pass, at most
	truncateTries = 10   // checkpoints tried after an erasure while readers keep the WAL
	truncatePause = 100 * time.Millisecond
)

// Maintain erases personal data of events finished more than retention ago,
// and the clicks logged before then, every interval, until ctx ends.
func (o *Store) Maintain(ctx context.Context, retention, every time.Duration) {
	sidecar.RetainEvery(ctx, o.log, retention, every, o.Retain)
}

// Retain erases the email, IP and session token of events finished more
// than age ago (these are patients of telehealth providers), with the
// upstream's answers to them, and deletes clicks logged more than age ago;
// it returns how many events it erased. Then the erased values are made
// unreadable in the files too: SQLite zeroes what it deletes or overwrites
// (secure_delete), free pages are given back, and the WAL, which still holds
// the pages as they were, is copied into the file and truncated.
func (o *Store) Retain(ctx context.Context, age time.Duration) (int, error) {
	cutoff := sidecar.MS(o.now().Add(-age))
	var events, clicks int64
	err := o.writer.write(ctx, func(tx *txn) error {
		res, err := tx.Exec(`UPDATE events SET payload = json_remove(payload, '$.email', '$.ip', '$.session_token'), last_body = '', erased = 1
			WHERE finished_at IS NOT NULL AND erased = 0 AND finished_at <= ?`, cutoff)
		if err != nil {
			return fmt.Errorf("erase personal data: %w", err)
		}
		if events, err = res.RowsAffected(); err != nil {
			return err
		}
		if events > 0 {
			if _, err := tx.Exec(`UPDATE attempts SET body = '' WHERE body != '' AND event_id IN
				(SELECT id FROM events WHERE erased = 1 AND finished_at <= ?)`, cutoff); err != nil {
				return fmt.Errorf("erase upstream answers: %w", err)
			}
		}
		if res, err = tx.Exec(`DELETE FROM clicks WHERE at <= ?`, cutoff); err != nil {
			return fmt.Errorf("delete old clicks: %w", err)
		}
		clicks, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	// Free pages (from this pass, from purges, from delivered backlogs) go
	// back to the file system every pass.
	if err := o.writer.write(ctx, func(tx *txn) error {
		_, err := tx.Exec(fmt.Sprintf("PRAGMA incremental_vacuum(%d)", vacuumPages))
		return err
	}); err != nil {
		return int(events), fmt.Errorf("incremental vacuum: %w", err)
	}
	if events > 0 || clicks > 0 {
		if err := o.truncateWAL(ctx); err != nil {
			return int(events), err
		}
	}
	return int(events), nil
}

// truncateWAL copies the WAL into the file and cuts it to nothing, so that
// the pages as they were before an erasure are gone from it. A reader that
// holds an old snapshot keeps it from finishing: it tries a few times.
func (o *Store) truncateWAL(ctx context.Context) error {
	var busy, frames, copied int
	for try := 0; try < truncateTries; try++ {
		if err := o.cdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied); err != nil {
			return fmt.Errorf("checkpoint after erasure: %w", err)
		}
		if busy == 0 {
			return nil
		}
		time.Sleep(truncatePause)
	}
	o.log.Warn("the checkpoint after an erasure could not finish: readers kept the WAL; the checkpoint after the next erasure tries again", "frames", frames, "copied", copied)
	return nil
}

// convertAutoVacuum makes an old file (created before auto_vacuum was set)
// able to give free pages back: the setting only takes effect on a file
// that is rebuilt, once, by VACUUM, which also drops whatever its free
// pages still held.
func (o *Store) convertAutoVacuum(ctx context.Context) error {
	var mode int
	if err := o.wconn.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return fmt.Errorf("outbox: read auto_vacuum: %w", err)
	}
	if mode == 2 {
		return nil
	}
	start := time.Now()
	if _, err := o.wconn.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return fmt.Errorf("outbox: set auto_vacuum: %w", err)
	}
	if _, err := o.wconn.ExecContext(context.WithoutCancel(ctx), "VACUUM"); err != nil {
		return fmt.Errorf("outbox: rebuild the file for incremental vacuum: %w", describe(err))
	}
	o.log.Info("outbox file rebuilt once for incremental vacuum", "took_ms", time.Since(start).Milliseconds())
	return nil
}

// Purge deletes delivered and duplicate events finished more than age ago,
// with their attempts, and returns how many. Their idempotency keys are
// forgotten with them.
func (o *Store) Purge(ctx context.Context, age time.Duration) (int, error) {
	n, err := o.exec(ctx, `DELETE FROM events WHERE state IN ('delivered', 'duplicate') AND finished_at <= ?`, sidecar.MS(o.now().Add(-age)))
	if err != nil {
		return 0, fmt.Errorf("purge events: %w", err)
	}
	if n > 0 { // the WAL's frames still hold the rows as they were written
		return n, o.truncateWAL(ctx)
	}
	return n, nil
}
