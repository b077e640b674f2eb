package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
)

// alterDatabase runs ALTER DATABASE <url's database> SET setting = value.
func alterDatabase(t *testing.T, url, setting, value string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I SET %s = %%L', current_database(), '%s'); END $$`, setting, value)); err != nil {
		t.Fatal(err)
	}
}

// TestASerializableDatabaseChangesNothing: with
// default_transaction_isolation = serializable on the database, concurrent
// accepts (some with one key), claims by three relays and their records
// all succeed (none would be a 500), and every event is claimed, so sent,
// once.
func TestASerializableDatabaseChangesNothing(t *testing.T) {
	url := pgtest.URL(t)
	alterDatabase(t, url, "default_transaction_isolation", "serializable")
	s := open(t, postgres.Options{URL: url})
	const appenders, each = 8, 40
	var mu sync.Mutex
	var errs []error
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	accepted := map[string]bool{}
	claimed := map[string]int{}
	done := make(chan struct{})
	var relays sync.WaitGroup
	for r := 0; r < 3; r++ {
		relays.Add(1)
		go func() {
			defer relays.Done()
			for {
				evs, err := s.Claim(ctx, 16, time.Minute)
				if err != nil {
					fail(fmt.Errorf("claim: %w", err))
				}
				for _, e := range evs {
					mu.Lock()
					claimed[e.ID]++
					mu.Unlock()
					if err := s.Record(ctx, sidecar.Result{EventID: e.ID, State: sidecar.StateDelivered, LeaseUntil: e.LeaseUntil,
						Attempt: sidecar.Attempt{N: e.Attempts, Status: 201, Outcome: "delivered"}}); err != nil {
						fail(fmt.Errorf("record: %w", err))
					}
				}
				if len(evs) == 0 {
					select {
					case <-done:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				key := fmt.Sprintf("order-%d-%d", a, i)
				if i%4 == 0 {
					key = fmt.Sprintf("shared-%d", i) // every appender sends these: one event each
				}
				out, err := s.Append(ctx, sidecar.NewEvent{Key: key, Conversion: sidecar.Conversion{ConversionID: key, Email: "pat@example.com"}})
				if err != nil {
					fail(fmt.Errorf("append: %w", err))
					continue
				}
				mu.Lock()
				accepted[out.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(claimed)
		mu.Unlock()
		if n >= len(accepted) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(done)
	relays.Wait()
	for _, err := range errs[:min(len(errs), 5)] {
		t.Errorf("%v (code %s)", err, sidecar.ErrorCode(err))
	}
	if len(errs) > 0 {
		t.Fatalf("%d errors under a serializable default", len(errs))
	}
	want := appenders*each - appenders*each/4 + each/4
	if len(accepted) != want || len(claimed) != want {
		t.Fatalf("%d events accepted, %d claimed; want %d", len(accepted), len(claimed), want)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("event %s claimed %d times: sent twice", id, n)
		}
	}
}

// TestADataErrorIsInvalidNotInternal: a value the database refuses as
// invalid data (a NUL, which jsonb cannot hold) is EInvalid (400) with
// sidecar.ErrDataRefused, not a 500, and nothing is stored; its neighbours
// in the batch are.
func TestADataErrorIsInvalidNotInternal(t *testing.T) {
	s := open(t, postgres.Options{URL: pgtest.URL(t)})
	var wg sync.WaitGroup
	var bad error
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sidecar.Conversion{ConversionID: fmt.Sprintf("order-%d", i), Email: "pat@example.com"}
			if i == 0 {
				c.ConversionID = "order\x00-0"
			}
			_, err := s.Append(ctx, sidecar.NewEvent{Key: fmt.Sprintf("k%d", i), Conversion: c})
			if i == 0 {
				bad = err
			} else if err != nil {
				t.Errorf("a neighbour: %v", err)
			}
		}()
	}
	wg.Wait()
	if sidecar.ErrorCode(bad) != sidecar.EInvalid || !errors.Is(bad, sidecar.ErrDataRefused) {
		t.Fatalf("a NUL: %v (code %s); want EInvalid with ErrDataRefused", bad, sidecar.ErrorCode(bad))
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.States[sidecar.StateQueued]; n != 7 {
		t.Fatalf("%d events queued, want the 7 neighbours", n)
	}
}
