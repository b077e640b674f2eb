package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
)

// TestAPlainURLWorksThroughPgBouncerInTransactionMode runs two sidecars'
// stores on one database through Debian's PgBouncer in transaction mode,
// with a plain URL (no pooler-specific parameter): every accept, claim
// and record succeeds and every event ends delivered, and the second store
// starts after the first (its migration lock must not be held by a server
// connection the pooler gave back). With pgx's default of named prepared
// statements, about half the accepts failed ("prepared statement … already
// exists").
func TestAPlainURLWorksThroughPgBouncerInTransactionMode(t *testing.T) {
	direct := pgtest.URL(t)
	url := pgtest.Bouncer(t, direct)
	stores := []*postgres.Store{open(t, postgres.Options{URL: url, MaxConns: 8})}
	stores = append(stores, open(t, postgres.Options{URL: url, MaxConns: 8}))

	const accepts = 100
	var wg sync.WaitGroup
	errs := make(chan error, accepts)
	for i := 0; i < accepts; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := sidecar.NewEvent{Key: fmt.Sprint("order-", i), Conversion: sidecar.Conversion{ClickID: fmt.Sprint("click-", i), ConversionID: fmt.Sprint("order-", i)}}
			if _, err := stores[i%2].Append(ctx, e); err != nil {
				errs <- fmt.Errorf("accept %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d accepts failed through PgBouncer", failed, accepts)
	}

	delivered := 0
	for round := 0; delivered < accepts && round < 50; round++ {
		for _, s := range stores {
			claimed, err := s.Claim(ctx, 10, time.Minute)
			if err != nil {
				t.Fatalf("claim: %v", err)
			}
			for _, e := range claimed {
				err := s.Record(ctx, sidecar.Result{
					EventID: e.ID, State: sidecar.StateDelivered, LeaseUntil: e.LeaseUntil,
					Attempt:  sidecar.Attempt{N: e.Attempts, StartedAt: time.Now(), Status: 201, Outcome: string(sidecar.StateDelivered)},
					Upstream: sidecar.Upstream{ConversionID: "glp-" + e.ID},
				})
				if err != nil {
					t.Fatalf("record %s: %v", e.ID, err)
				}
				delivered++
			}
		}
	}
	st, err := stores[1].Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if delivered != accepts || st.States[sidecar.StateDelivered] != accepts {
		t.Fatalf("%d recorded, stats %v: want all %d delivered", delivered, st.States, accepts)
	}
	for _, s := range stores {
		if err := s.Writable(ctx); err != nil {
			t.Errorf("writable: %v", err)
		}
	}
}

// TestAPoolerThatLosesPreparedStatementsIsUnavailableNotAnError: with a
// URL that asks for named prepared statements through PgBouncer in
// transaction mode, accepts fail; each is answered as the store being
// unavailable (503 "nothing was stored", /readyz failing through
// LastWriteError), not as an internal error (500 with /readyz still 200).
func TestAPoolerThatLosesPreparedStatementsIsUnavailableNotAnError(t *testing.T) {
	url := pgtest.Bouncer(t, pgtest.URL(t))
	s := open(t, postgres.Options{URL: url + "&default_query_exec_mode=cache_statement", MaxConns: 8})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := sidecar.NewEvent{Key: fmt.Sprint("order-", i), Conversion: sidecar.Conversion{ClickID: "c", ConversionID: fmt.Sprint("order-", i)}}
			_, err := s.Append(ctx, e)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			failed++
			if code := sidecar.ErrorCode(err); code != sidecar.EUnavailable {
				t.Errorf("accept %d: %v (code %s), want %s", i, err, code, sidecar.EUnavailable)
			}
		}()
	}
	wg.Wait()
	if failed == 0 {
		t.Skip("no accept failed: this PgBouncer keeps prepared statements (1.21+ with max_prepared_statements)")
	}
	t.Logf("%d of 100 accepts failed, each as unavailable", failed)
}
