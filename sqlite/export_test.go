package sqlite

import (
	"context"
	"errors"
	"time"
)

// Tuning is what the tests set beside Options.
type Tuning struct {
	MaxBatch        int           // 0: DefaultMaxBatch; 1 commits every write alone
	CheckpointEvery time.Duration // 0: every second
}

// OpenTuned is Open with the tests' tuning.
func OpenTuned(opts Options, t Tuning) (*Store, error) {
	return open(opts, tuning{maxBatch: t.MaxBatch, checkpointEvery: t.CheckpointEvery})
}

// IntegrityCheck runs SQLite's integrity check and returns its complaint,
// or nil when the file is sound.
func (o *Store) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := o.rdb.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return errors.New(res)
	}
	return nil
}
