package capture_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/capture"
)

// clickStore is the outbox's click log as a ClickStore that counts batches,
// and can hold a batch until released.
type clickStore struct {
	mu      sync.Mutex
	clicks  []sidecar.Click
	batches int
	hold    chan struct{} // nil: write at once
	stop    func()        // stops the log writing here (runLog)
}

func (s *clickStore) RecordClicks(_ context.Context, clicks []sidecar.Click, keep int) (int, error) {
	if s.hold != nil {
		<-s.hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.clicks = append(s.clicks, clicks...)
	pruned := 0
	if len(s.clicks) > keep {
		pruned = len(s.clicks) - keep
		s.clicks = s.clicks[pruned:]
	}
	return pruned, nil
}

func (s *clickStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clicks)
}

type drops struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *drops) ClicksDropped(reason string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n[reason] += n
}

func (d *drops) get(reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[reason]
}

// runLog runs a click log until the test ends and everything was written,
// or until a clickStore it writes to is told to stop (waitClicks).
func runLog(t *testing.T, opts capture.ClickLogOptions) *capture.ClickLog {
	t.Helper()
	l := capture.NewClickLog(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	if s, ok := opts.Store.(*clickStore); ok {
		s.stop = stop
	}
	t.Cleanup(stop)
	return l
}

func TestTheClickLogIsBoundedPerAddressPerClickAndInTotal(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	t.Run("one address flooding keeps a handful", func(t *testing.T) {
		store, d := &clickStore{}, &drops{n: map[string]int{}}
		l := runLog(t, capture.ClickLogOptions{Store: store, Observer: d})
		for i := 0; i < 1600; i++ {
			l.RecordClick(context.Background(), sidecar.Click{ClickID: fmt.Sprint("flood-", i), IP: "203.0.113.9", At: now.Add(time.Duration(i) * time.Millisecond)})
		}
		waitClicks(t, store, capture.DefaultAddressBurst)
		if n := store.len(); n > capture.DefaultAddressBurst {
			t.Errorf("%d clicks kept from one address", n)
		}
		if d.get(capture.DropAddress) != 1600-capture.DefaultAddressBurst {
			t.Errorf("drops %v", d.n)
		}
	})
	t.Run("an IPv6 /64 is one address", func(t *testing.T) {
		store := &clickStore{}
		l := runLog(t, capture.ClickLogOptions{Store: store})
		for i := 0; i < 200; i++ {
			l.RecordClick(context.Background(), sidecar.Click{ClickID: "v6", IP: fmt.Sprintf("2001:db8:5:6::%x", i+1), At: now})
			l.RecordClick(context.Background(), sidecar.Click{ClickID: fmt.Sprint("v6-", i), IP: fmt.Sprintf("2001:db8:5:6:%x::1", i+1), At: now})
		}
		waitClicks(t, store, 1)
		if n := store.len(); n > capture.DefaultAddressBurst {
			t.Errorf("%d clicks kept from one /64", n)
		}
	})
	t.Run("the same click id from the same address is logged once", func(t *testing.T) {
		store, d := &clickStore{}, &drops{n: map[string]int{}}
		l := runLog(t, capture.ClickLogOptions{Store: store, Observer: d})
		for i := 0; i < 5; i++ {
			l.RecordClick(context.Background(), sidecar.Click{ClickID: "reload", IP: "198.51.100.3", At: now.Add(time.Duration(i) * time.Minute)})
		}
		l.RecordClick(context.Background(), sidecar.Click{ClickID: "reload", IP: "198.51.100.3", At: now.Add(capture.DefaultSameClickEvery + time.Minute)})
		waitClicks(t, store, 2)
		if n := store.len(); n != 2 || d.get(capture.DropSameClick) != 4 {
			t.Errorf("%d kept, drops %v: want 2 kept (once per %s) and 4 dropped", n, d.n, capture.DefaultSameClickEvery)
		}
	})
	t.Run("sixty addresses with one landing each are all kept", func(t *testing.T) {
		store := &clickStore{}
		l := runLog(t, capture.ClickLogOptions{Store: store})
		for i := 0; i < 60; i++ {
			l.RecordClick(context.Background(), sidecar.Click{ClickID: fmt.Sprint("c-", i), IP: fmt.Sprintf("198.51.100.%d", i+1), At: now})
		}
		waitClicks(t, store, 60)
		if n := store.len(); n != 60 {
			t.Errorf("%d of 60 kept", n)
		}
	})
	t.Run("a full log drops its oldest and counts them", func(t *testing.T) {
		store, d := &clickStore{}, &drops{n: map[string]int{}}
		l := runLog(t, capture.ClickLogOptions{Store: store, Observer: d, MaxClicks: 20})
		for i := 0; i < 50; i++ {
			l.RecordClick(context.Background(), sidecar.Click{ClickID: fmt.Sprint("c-", i), IP: fmt.Sprintf("198.51.%d.1", i), At: now})
		}
		waitFor(t, func() bool { return d.get(capture.DropOldest) == 30 })
		if n := store.len(); n != 20 {
			t.Errorf("%d kept, want 20", n)
		}
	})
	t.Run("a full queue drops new landings and never waits", func(t *testing.T) {
		store, d := &clickStore{hold: make(chan struct{})}, &drops{n: map[string]int{}}
		l := runLog(t, capture.ClickLogOptions{Store: store, Observer: d})
		t.Cleanup(func() { close(store.hold) }) // before runLog's cleanup: cleanups run last first
		for i := 0; i < 10_000; i++ {
			l.RecordClick(context.Background(), sidecar.Click{ClickID: "q", IP: netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}).String(), At: now})
		}
		if d.get(capture.DropQueueFull) == 0 {
			t.Errorf("10,000 landings behind a stuck writer dropped none: %v", d.n)
		}
	})
}

// waitClicks stops the log writing to s, which writes everything queued
// before it stops: what s holds then is all it will ever hold (RecordClick
// queues or drops a landing before it returns). It must be at least n.
func waitClicks(t *testing.T, s *clickStore, n int) {
	t.Helper()
	s.stop()
	if got := s.len(); got < n {
		t.Fatalf("%d clicks written, want at least %d", got, n)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
