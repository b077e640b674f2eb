package postgres

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is the schema the store's tables live in unless the URL's
// search_path names another (its first schema): a schema of its own, so
// that the sidecar can share the app's database, whose own tables may be
// called events or clicks.
const DefaultSchema = "glp"

// The store's statements name every table with its schema, written glp.
// (glp.events), rather than relying on a search_path: a pooler in
// transaction mode (PgBouncer) refuses search_path as a start-up
// parameter, and a session's SET would stay on whichever server connection
// the pooler lent, for another client to find. Qualified names cost no
// round trip; setting search_path in every transaction would cost one, and
// the appends are single statements outside a transaction. When the URL
// names another schema, db and schemaTx rewrite glp. to it in each
// statement before it is sent.
var qualified = regexp.MustCompile(`\bglp\.`)

// oldTables are the tables that sidecars before the schema of its own kept
// in the database's default schema (public), glp_schema_version among them;
// migrate moves them into the store's schema.
var oldTables = []string{"events", "attempts", "probe", "clicks", "data_keys", "data_key_file", "audit", "audit_anchor", "keys", "glp_schema_version"}

// schemaOf is the store's schema: the first schema the URL's search_path
// names ($user aside), else DefaultSchema. An unquoted name is folded to
// lower case, as PostgreSQL does; a double-quoted one is taken as written.
func schemaOf(searchPath string) string {
	for _, name := range strings.Split(searchPath, ",") {
		name = strings.TrimSpace(name)
		if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
			name = strings.ReplaceAll(name[1:len(name)-1], `""`, `"`)
		} else {
			name = strings.ToLower(name)
		}
		if name != "" && name != "$user" {
			return name
		}
	}
	return DefaultSchema
}

// db is the store's pool, its statements in the store's schema.
type db struct {
	*pgxpool.Pool
	name   string // the schema, as named
	schema string // the schema quoted, as SQL writes it
}

// sql is query with its tables in the store's schema.
func (d *db) sql(query string) string {
	if d.name == DefaultSchema {
		return query
	}
	return qualified.ReplaceAllLiteralString(query, d.schema+".")
}

func (d *db) Exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	return d.Pool.Exec(ctx, d.sql(query), args...)
}

func (d *db) Query(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	return d.Pool.Query(ctx, d.sql(query), args...)
}

func (d *db) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return d.Pool.QueryRow(ctx, d.sql(query), args...)
}

// schemaTx is a transaction of the store, its statements in the store's
// schema.
type schemaTx struct {
	pgx.Tx
	d *db
}

func (t schemaTx) Exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	return t.Tx.Exec(ctx, t.d.sql(query), args...)
}

func (t schemaTx) Query(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	return t.Tx.Query(ctx, t.d.sql(query), args...)
}

func (t schemaTx) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return t.Tx.QueryRow(ctx, t.d.sql(query), args...)
}

func (t schemaTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	for _, q := range b.QueuedQueries {
		q.SQL = t.d.sql(q.SQL)
	}
	return t.Tx.SendBatch(ctx, b)
}

// moveOldLayout moves the tables of a sidecar before the schema of its own
// from the schema they were found in (the connection's default, public
// unless the role's search_path says otherwise) into the store's schema,
// every row with them, when the store's schema has no glp_schema_version
// and the default schema has one: tables called events or clicks there
// without it are the app's, and stay. It runs in the migration's
// transaction, under its lock, before search_path is set to the store's
// schema, and reports whether it moved anything.
func (s *Store) moveOldLayout(ctx context.Context, tx pgx.Tx) (bool, error) {
	var old string
	err := tx.QueryRow(ctx, s.pool.sql(`SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass('glp_schema_version') AND to_regclass('glp.glp_schema_version') IS NULL`)).Scan(&old)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	from := pgx.Identifier{old}.Sanitize()
	for _, t := range oldTables {
		var found bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, from+"."+pgx.Identifier{t}.Sanitize()).Scan(&found); err != nil {
			return false, err
		}
		if !found {
			continue
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE `+from+"."+pgx.Identifier{t}.Sanitize()+` SET SCHEMA `+s.pool.schema); err != nil {
			return false, err
		}
	}
	// glp.enqueue (migration 0006) finds the tables by its own search_path,
	// set to where they were when it was installed.
	_, err = tx.Exec(ctx, `DO $move$ BEGIN
		IF to_regprocedure('glp.enqueue(jsonb, text)') IS NOT NULL THEN
			EXECUTE format('ALTER FUNCTION glp.enqueue(jsonb, text) SET search_path = %I, pg_catalog', `+quoteLiteral(s.pool.name)+`);
		END IF;
	END $move$`)
	return err == nil, err
}

// quoteLiteral is s as an SQL string literal.
func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
