package outbox_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/outbox"
)

// BenchmarkAppend compares one commit per event with the group commit,
// both under 64 concurrent callers, as a traffic spike would send them.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxBatch int
	}{{"commit-per-event", 1}, {"group-commit", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			o := open(b, outbox.Options{MaxBatch: bc.maxBatch})
			var n atomic.Int64
			b.SetParallelism(32) // × GOMAXPROCS callers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := o.Append(ctx, conv(int(n.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// filled numbers the events of every fill, so that each fill's keys are new.
var filled atomic.Int64

// fillBacklog appends n queued events from 64 goroutines, as a burst would.
func fillBacklog(b *testing.B, o *outbox.Outbox, n int) {
	b.Helper()
	base := int(filled.Add(int64(n))) - n
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				e := conv(base + i)
				e.Key = fmt.Sprint("k", base+i)
				if _, err := o.Append(ctx, e); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
}

// BenchmarkClaim claims batches of 32 from a large backlog.
func BenchmarkClaim(b *testing.B) {
	o := open(b, outbox.Options{})
	fillBacklog(b, o, 100000)
	b.ResetTimer()
	claimed := 0
	for i := 0; i < b.N; i++ {
		evs, err := o.Claim(ctx, 32, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) == 0 { // claimed to the end: queue as many again
			b.StopTimer()
			fillBacklog(b, o, 100000)
			b.StartTimer()
		}
		claimed += len(evs)
	}
	b.ReportMetric(float64(claimed)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkClaimAndRecord is the relay's own use of the outbox: claim two
// workers' worth of events, and record each as delivered without waiting,
// as the workers do, with at most 32 records not yet on disk.
func BenchmarkClaimAndRecord(b *testing.B) {
	o := open(b, outbox.Options{})
	fillBacklog(b, o, 100000)
	b.ResetTimer()
	done := 0
	var wg sync.WaitGroup
	pending := make(chan struct{}, 32)
	for i := 0; i < b.N; i++ {
		evs, err := o.Claim(ctx, 16, time.Minute)
		if err != nil || len(evs) == 0 {
			b.Fatalf("claim: %d %v (raise the backlog)", len(evs), err)
		}
		for _, e := range evs {
			pending <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-pending; wg.Done() }()
				if err := o.Record(ctx, sidecar.Result{EventID: e.ID, State: sidecar.StateDelivered,
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
