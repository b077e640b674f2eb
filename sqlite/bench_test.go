package sqlite_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// BenchmarkAppend compares one commit per event with the group commit,
// both under 64 concurrent callers, as a traffic spike would send them.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxBatch int
	}{{"commit-per-event", 1}, {"group-commit", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			o := openTuned(b, sqlite.Options{}, sqlite.Tuning{MaxBatch: bc.maxBatch})
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
func fillBacklog(b *testing.B, o *sqlite.Store, n int) {
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
	o := open(b, sqlite.Options{})
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
	o := open(b, sqlite.Options{})
	fillBacklog(b, o, 100000)
	b.ResetTimer()
	done := 0
	r := newRecorder(o, 32)
	for i := 0; i < b.N; i++ {
		evs, err := o.Claim(ctx, 16, time.Minute)
		if err != nil || len(evs) == 0 {
			b.Fatalf("claim: %d %v (raise the backlog)", len(evs), err)
		}
		for _, e := range evs {
			r.record(b, e)
		}
		done += len(evs)
	}
	r.wg.Wait()
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRecord is the mark alone: b.N events, appended and claimed before
// the clock starts, recorded as delivered without waiting. Records are lazy
// writes: a batch of nothing else waits up to 2 ms for company, which the
// relay's next claim ends. With no claims coming, 32 pending records (the
// relay's window) measure that wait; a full batch's worth (256) never waits
// on it and measures the mark's own cost.
func BenchmarkRecord(b *testing.B) {
	for _, window := range []int{32, sidecar.DefaultMaxBatch} {
		b.Run(fmt.Sprintf("%d-pending", window), func(b *testing.B) {
			o := open(b, sqlite.Options{})
			fillBacklog(b, o, b.N)
			var evs []sidecar.Event
			for len(evs) < b.N {
				got, err := o.Claim(ctx, 32, time.Minute)
				if err != nil || len(got) == 0 {
					b.Fatalf("claim: %d %v after %d of %d", len(got), err, len(evs), b.N)
				}
				evs = append(evs, got...)
			}
			b.ResetTimer()
			r := newRecorder(o, window)
			for _, e := range evs {
				r.record(b, e)
			}
			r.wg.Wait()
			b.ReportMetric(float64(len(evs))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// recorder records claimed events as delivered the way the relay's workers
// do: each without waiting for the one before, at most window not yet on disk.
type recorder struct {
	o       *sqlite.Store
	pending chan struct{}
	wg      sync.WaitGroup
}

func newRecorder(o *sqlite.Store, window int) *recorder {
	return &recorder{o: o, pending: make(chan struct{}, window)}
}

func (r *recorder) record(b *testing.B, e sidecar.Event) {
	r.pending <- struct{}{}
	r.wg.Add(1)
	go func() {
		defer func() { <-r.pending; r.wg.Done() }()
		if err := r.o.Record(ctx, sidecar.Result{EventID: e.ID, State: sidecar.StateDelivered,
			Attempt: sidecar.Attempt{N: e.Attempts, Status: 201, Body: `{"status":"ok"}`, Outcome: "delivered"}}); err != nil {
			b.Error(err)
		}
	}()
}
