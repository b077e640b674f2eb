package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
)

// migrate brings the schema up to date, one migration per transaction, in
// the store's schema (schema.go), which the first creates, after moving a
// sidecar's tables from before it there.
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
			if err := s.createSchema(ctx, tx); err != nil {
				return err
			}
			moved, err := s.moveOldLayout(ctx, tx) // schema.go: a sidecar's tables from before the schema of its own
			if err != nil {
				return fmt.Errorf("move the outbox's tables into schema %s: %w", s.pool.name, err)
			}
			if moved {
				s.log.Info("outbox tables moved into their own schema", "schema", s.pool.name)
			}
			// The migrations create their tables in the store's schema.
			if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+s.pool.schema+`, pg_catalog`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, s.pool.sql(`CREATE TABLE IF NOT EXISTS glp.glp_schema_version (version integer NOT NULL)`)); err != nil {
				return err
			}
			version, err := schemaVersion(ctx, schemaTx{tx, s.pool}) // read committed: what another sidecar committed before the lock was ours
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
			_, err = tx.Exec(ctx, s.pool.sql(`DELETE FROM glp.glp_schema_version; INSERT INTO glp.glp_schema_version (version) VALUES (`+fmt.Sprint(version+1)+`)`))
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
	if err := q.QueryRow(ctx, `SELECT to_regclass('glp.glp_schema_version') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var version int
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM glp.glp_schema_version`).Scan(&version)
	return version, err
}

// createSchema creates the store's schema unless it exists (a schema an
// administrator made needs no CREATE privilege on the database).
func (s *Store) createSchema(ctx context.Context, tx pgx.Tx) error {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regnamespace($1) IS NOT NULL`, s.pool.schema).Scan(&exists); err != nil || exists {
		return err
	}
	_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.pool.schema)
	return err
}
