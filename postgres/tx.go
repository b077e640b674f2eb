package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// conflictRetries is how many times a transaction (or a statement of its
// own) that PostgreSQL rolled back for a serialization failure or a
// deadlock is run in all before its error is returned (then answered 503:
// nothing was stored).
const conflictRetries = 8

// inTx runs fn in a transaction at READ COMMITTED, said in its BEGIN, so
// that a database or role whose default_transaction_isolation is
// serializable or repeatable read changes nothing: the claims' FOR UPDATE
// SKIP LOCKED and the appends' ON CONFLICT are written for read committed
// (a serializable claim fails on every row another sidecar just leased,
// instead of skipping it). A transaction rolled back for a serialization
// failure or a deadlock is run again (retryConflicts); fn must therefore
// set what it returns afresh on each run.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return retryConflicts(ctx, func() error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			return fn(schemaTx{tx, s.pool}) // schema.go: its statements in the store's schema
		})
	})
}

// retryConflicts runs run until it does not fail with a serialization
// failure (40001) or a deadlock (40P01), conflictRetries times at most,
// with a short random pause between runs. Both errors mean PostgreSQL
// rolled the work back, so running it again is safe. A statement outside a
// transaction (an append's insert) is its own transaction, and the same
// holds: under a serializable default it runs serializable.
func retryConflicts(ctx context.Context, run func() error) error {
	for i := 1; ; i++ {
		err := run()
		if !conflict(err) || i == conflictRetries {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << i))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// conflict reports whether err is a serialization failure or a deadlock.
func conflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
