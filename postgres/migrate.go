package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
)

// migrate brings the schema up to date, one migration per transaction.
// Each transaction takes a transaction-level advisory lock first, so that
// sidecars starting together apply each migration once: a session-level
// lock would be taken and released on whichever server connection a pooler
// in transaction mode (PgBouncer) lends each statement, and could stay
// held by one no sidecar uses any more. A database already up to date is
// only read (a read-only one is no error here).
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for {
		version, err := schemaVersion(ctx, s.pool)
		if err != nil {
			return err
		}
		if version > len(files) {
			return fmt.Errorf("the database is at schema version %d, newer than this sidecar (%d): run a newer sidecar", version, len(files))
		}
		if version == len(files) {
			return nil
		}
		applied := ""
		err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS glp_schema_version (version integer NOT NULL)`); err != nil {
				return err
			}
			version, err := schemaVersion(ctx, tx) // read committed: what another sidecar committed before the lock was ours
			if err != nil || version >= len(files) {
				return err
			}
			name := files[version]
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			_, err = tx.Exec(ctx, `DELETE FROM glp_schema_version; INSERT INTO glp_schema_version (version) VALUES (`+fmt.Sprint(version+1)+`)`)
			applied = name
			return err
		})
		if err != nil {
			return err
		}
		if applied != "" {
			s.log.Info("outbox migrated", "migration", applied)
		}
	}
}

// schemaVersion is the number of migrations applied, 0 before the first.
func schemaVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('glp_schema_version') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var version int
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM glp_schema_version`).Scan(&version)
	return version, err
}
