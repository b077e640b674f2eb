package postgres

import "github.com/jackc/pgx/v5"

// DefaultQueryExecMode is how the store sends its statements unless the
// URL's default_query_exec_mode says otherwise: the extended protocol with
// the unnamed statement and text parameters typed from their Go values, one
// round trip, nothing kept on the server connection between statements.
// pgx's own default prepares named statements on each connection, which a
// pooler in transaction mode (PgBouncer's pool_mode=transaction, in front
// of many managed databases) breaks: it lends each transaction whichever
// server connection is free, so a statement prepared on one is missing on
// the next ("prepared statement … does not exist") or already there
// ("… already exists"). A plain postgres:// URL works through such a
// pooler this way, at the cost of PostgreSQL parsing and planning each
// statement again (BenchmarkAppend compares the modes; docs/postgres.md
// has the figures). cache_describe, the other mode a pooler takes, asks
// PostgreSQL for the types of each new statement text once per connection,
// and the batched appends' texts vary with their size: it measured slower.
const DefaultQueryExecMode = pgx.QueryExecModeExec

// poolerFault reports whether a PostgreSQL error code says that a pooler
// in transaction mode lent another server connection than the one a
// statement was prepared on (a URL that asks for
// default_query_exec_mode=cache_statement through PgBouncer): the
// statement never ran, nothing was stored, and the store cannot work
// until the URL is fixed. It is answered 503, and /readyz fails, as for a
// database that cannot be reached, rather than 500 with /readyz still 200.
func poolerFault(code string) bool {
	switch code {
	case "42P05", // duplicate_prepared_statement: "prepared statement … already exists"
		"26000": // invalid_sql_statement_name: "prepared statement … does not exist"
		return true
	}
	return false
}
