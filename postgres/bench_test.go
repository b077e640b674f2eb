package postgres_test

import (
	"fmt"
	neturl "net/url"
	"sync/atomic"
	"testing"

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
	}{{"statement-per-event", 1}, {"batched", postgres.DefaultMaxBatch}} {
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
