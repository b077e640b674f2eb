package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/glpwinner/glp-sidecar/internal/pgtest"
)

// TestTheStoresTransactionsAreReadCommittedWhateverTheDefault: on a
// database whose default_transaction_isolation is serializable, the
// store's transactions still run at read committed (their BEGIN says so).
func TestTheStoresTransactionsAreReadCommittedWhateverTheDefault(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = serializable', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	s, err := Open(ctx, Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var outside, inside string
	if err := s.pool.QueryRow(ctx, `SHOW transaction_isolation`).Scan(&outside); err != nil {
		t.Fatal(err)
	}
	if err := s.inTx(ctx, func(tx pgx.Tx) error { return tx.QueryRow(ctx, `SHOW transaction_isolation`).Scan(&inside) }); err != nil {
		t.Fatal(err)
	}
	if outside != "serializable" || inside != "read committed" {
		t.Fatalf("outside a transaction %q (want serializable: the setting took), inside the store's %q (want read committed)", outside, inside)
	}
}
