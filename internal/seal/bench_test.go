package seal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/seal"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// benchStores are the outbox file in the clear and sealed, opened alike.
func benchStores(b *testing.B) map[string]sidecar.Store {
	out := map[string]sidecar.Store{}
	for _, name := range []string{"plain", "sealed"} {
		o, err := sqlite.Open(sqlite.Options{Path: filepath.Join(b.TempDir(), "outbox.db")})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { o.Close() })
		out[name] = o
		if name == "sealed" {
			s, err := seal.Wrap(context.Background(), o, seal.Options{Key: seal.NewKey()})
			if err != nil {
				b.Fatal(err)
			}
			out[name] = s
		}
	}
	return out
}

func conversion(i int64) sidecar.Conversion {
	return sidecar.Conversion{ClickID: fmt.Sprint("click-", i), SessionToken: "sess-0123456789", Email: fmt.Sprintf("patient%d@example.com", i), IP: "203.0.113.7", ConversionID: fmt.Sprint("order-", i)}
}

// BenchmarkAccept appends events from 64 goroutines (the group commit's
// accept path), in the clear and sealed, in the same run.
func BenchmarkAccept(b *testing.B) {
	for _, name := range []string{"plain", "sealed"} {
		b.Run(name, func(b *testing.B) {
			s := benchStores(b)[name]
			var n atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if _, err := s.Append(context.Background(), sidecar.NewEvent{Key: fmt.Sprint("k-", i), Conversion: conversion(i)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDrain claims (opening each event) and records b.N queued events,
// 8 at a time as the relay's workers do, in the clear and sealed.
func BenchmarkDrain(b *testing.B) {
	for _, name := range []string{"plain", "sealed"} {
		b.Run(name, func(b *testing.B) {
			s := benchStores(b)[name]
			ctx := context.Background()
			for i := range b.N {
				if _, err := s.Append(ctx, sidecar.NewEvent{Conversion: conversion(int64(i))}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for done := 0; done < b.N; {
				events, err := s.Claim(ctx, 8, time.Minute)
				if err != nil || len(events) == 0 {
					b.Fatalf("claim: %d, %v", len(events), err)
				}
				var wg sync.WaitGroup
				for _, e := range events { // recorded at once, as the relay's workers do: one group commit
					if e.Conversion.Email == "" {
						b.Fatal("an event without its email")
					}
					wg.Go(func() {
						if err := s.Record(ctx, sidecar.Result{EventID: e.ID, LeaseUntil: e.LeaseUntil, State: sidecar.StateDelivered,
							Attempt: sidecar.Attempt{N: e.Attempts, StartedAt: time.Now(), Status: 201, Outcome: string(sidecar.StateDelivered)}}); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				done += len(events)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
