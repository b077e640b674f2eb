package postgres_test

import (
	"fmt"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
)

// BenchmarkAppend compares a statement and a commit per event with the
// batched appends, both under 64 concurrent callers, as a traffic spike
// would send them, on a local PostgreSQL with synchronous_commit on; each
// with pgx's named prepared statements (cache_statement, pgx's default,
// which a pooler in transaction mode breaks), the store's default
// (cache_describe) and exec, chosen by the URL's default_query_exec_mode.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxBatch int
	}{{"statement-per-event", 1}, {"batched", sidecar.DefaultMaxBatch}} {
		for _, mode := range []string{"cache_statement", "cache_describe", "exec"} {
			b.Run(bc.name+"/"+mode, func(b *testing.B) {
				u, err := neturl.Parse(pgtest.URL(b))
				if err != nil {
					b.Fatal(err)
				}
				q := u.Query()
				q.Set("default_query_exec_mode", mode)
				u.RawQuery = q.Encode()
				s, err := postgres.OpenBatched(ctx, postgres.Options{URL: u.String()}, bc.maxBatch)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				var n atomic.Int64
				b.SetParallelism(32) // × GOMAXPROCS callers
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						e := sidecar.NewEvent{Key: fmt.Sprint("order-", i), Conversion: sidecar.Conversion{ClickID: fmt.Sprint("click-", i), Email: "pat@example.com", IP: "203.0.113.9", ConversionID: fmt.Sprint("order-", i)}}
						if _, err := s.Append(ctx, e); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkClaimAndRecord is the relay's own use of the outbox, as in the
// SQLite store's benchmark of the same name: claim two workers' worth of
// events, and record each as delivered without waiting, as the workers do,
// with at most 32 records not yet committed.
func BenchmarkClaimAndRecord(b *testing.B) {
	s, err := postgres.Open(ctx, postgres.Options{URL: pgtest.URL(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	const backlog = 20000
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < backlog; i += 64 {
				e := sidecar.NewEvent{Key: fmt.Sprint("order-", i), Conversion: sidecar.Conversion{ClickID: fmt.Sprint("click-", i), ConversionID: fmt.Sprint("order-", i)}}
				if _, err := s.Append(ctx, e); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	b.ResetTimer()
	done := 0
	pending := make(chan struct{}, 32)
	for i := 0; i < b.N; i++ {
		evs, err := s.Claim(ctx, 16, time.Minute)
		if err != nil || len(evs) == 0 {
			b.Fatalf("claim: %d %v (raise the backlog)", len(evs), err)
		}
		for _, e := range evs {
			pending <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-pending; wg.Done() }()
				if err := s.Record(ctx, sidecar.Result{EventID: e.ID, State: sidecar.StateDelivered, LeaseUntil: e.LeaseUntil,
					Attempt: sidecar.Attempt{N: e.Attempts, Status: 201, Body: `{"status":"ok"}`, Outcome: "delivered"}}); err != nil {
					b.Error(err)
				}
			}()
		}
		done += len(evs)
	}
	wg.Wait()
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "events/s")
}
