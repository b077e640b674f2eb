package outbox_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/outbox"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func open(t testing.TB, opts outbox.Options) *outbox.Outbox {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "data", "outbox.db")
	}
	o, err := outbox.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func conv(i int) sidecar.NewEvent {
	return sidecar.NewEvent{
		Key:        fmt.Sprintf("order-%d", i),
		Conversion: sidecar.Conversion{ClickID: fmt.Sprintf("click-%d", i), Email: "pat@example.com", IP: "203.0.113.9", ConversionID: fmt.Sprintf("order-%d", i)},
	}
}

var ctx = context.Background()

func TestAppendStoresOnceAndAnswersDuplicateForTheSameKey(t *testing.T) {
	o := open(t, outbox.Options{})
	first, err := o.Append(ctx, conv(1))
	if err != nil || first.Duplicate || first.ID == "" {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, err := o.Append(ctx, conv(1))
	if err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("again: %+v %v; want duplicate of %s", again, err, first.ID)
	}
	noKey := sidecar.NewEvent{Conversion: sidecar.Conversion{Email: "a@example.com"}}
	a, _ := o.Append(ctx, noKey)
	b, _ := o.Append(ctx, noKey)
	if a.Duplicate || b.Duplicate || a.ID == b.ID {
		t.Errorf("events without a key are never duplicates: %+v %+v", a, b)
	}
	st, err := o.Stats(ctx)
	if err != nil || st.States[sidecar.StateQueued] != 3 {
		t.Errorf("stats %+v %v", st, err)
	}
	e, attempts, err := o.Get(ctx, first.ID)
	if err != nil || e.Conversion != conv(1).Conversion || e.State != sidecar.StateQueued || len(attempts) != 0 {
		t.Errorf("get: %+v %v %v", e, attempts, err)
	}
}

func TestConcurrentAppendsOfOneKeyStoreOneEvent(t *testing.T) {
	o := open(t, outbox.Options{})
	var wg sync.WaitGroup
	ids := make(chan sidecar.Appended, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := o.Append(ctx, conv(7))
			if err != nil {
				t.Error(err)
			}
			ids <- a
		}()
	}
	wg.Wait()
	close(ids)
	fresh, seen := 0, map[string]bool{}
	for a := range ids {
		seen[a.ID] = true
		if !a.Duplicate {
			fresh++
		}
	}
	if fresh != 1 || len(seen) != 1 {
		t.Errorf("%d stored, %d distinct ids; want 1 and 1", fresh, len(seen))
	}
}

func TestClaimLeasesDueEventsUntilTheLeaseExpires(t *testing.T) {
	clk := newClock()
	o := open(t, outbox.Options{Now: clk.now})
	for i := 0; i < 3; i++ {
		e := conv(i)
		e.Test, e.ClickSource = true, "cookie"
		if _, err := o.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := o.Claim(ctx, 2, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim: %d %v", len(got), err)
	}
	if got[0].Attempts != 1 || got[0].LeaseUntil.IsZero() {
		t.Errorf("a claimed event counts an attempt and carries a lease: %+v", got[0])
	}
	// A claimed event is the stored one, less its key and last outcome.
	stored, _, err := o.Get(ctx, got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Key = ""
	if got[0] != stored {
		t.Errorf("claimed %+v\nstored  %+v", got[0], stored)
	}
	rest, _ := o.Claim(ctx, 10, time.Minute)
	if len(rest) != 1 {
		t.Fatalf("the unleased event: %d", len(rest))
	}
	if none, _ := o.Claim(ctx, 10, time.Minute); len(none) != 0 {
		t.Fatalf("leased events were claimed again: %d", len(none))
	}
	clk.advance(61 * time.Second) // the holder crashed; its leases run out
	again, _ := o.Claim(ctx, 10, time.Minute)
	if len(again) != 3 || again[0].Attempts != 2 {
		t.Fatalf("after the lease: %d events, attempts %d", len(again), again[0].Attempts)
	}
}

func TestRecordKeepsEachAttemptAndTheOutcome(t *testing.T) {
	clk := newClock()
	o := open(t, outbox.Options{Now: clk.now})
	a, _ := o.Append(ctx, conv(1))
	ev, _ := o.Claim(ctx, 1, time.Minute)
	next := clk.now().Add(5 * time.Second)
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateQueued, NextAttemptAt: next,
		Attempt: sidecar.Attempt{N: ev[0].Attempts, StartedAt: clk.now(), Status: 503, Error: "upstream 503", Outcome: "retry"}}); err != nil {
		t.Fatal(err)
	}
	if due, _ := o.Claim(ctx, 1, time.Minute); len(due) != 0 {
		t.Fatal("an event scheduled for later was claimed now")
	}
	clk.advance(5 * time.Second)
	ev, _ = o.Claim(ctx, 1, time.Minute)
	if len(ev) != 1 {
		t.Fatal("the retry did not come due")
	}
	up := sidecar.Upstream{ConversionID: "c-uuid", ClickID: "click-1", RecordedAt: "2026-11-01T12:00:05Z"}
	if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, Upstream: up,
		Attempt: sidecar.Attempt{N: ev[0].Attempts, StartedAt: clk.now(), Status: 201, Body: `{"status":"ok"}`, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	e, attempts, err := o.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != sidecar.StateDelivered || e.Upstream != up || e.LastStatus != 201 || e.FinishedAt.IsZero() || !e.LeaseUntil.IsZero() {
		t.Errorf("event %+v", e)
	}
	if len(attempts) != 2 || attempts[0].Status != 503 || attempts[1].Outcome != "delivered" {
		t.Errorf("attempts %+v", attempts)
	}
}

func TestReleaseAndRetry(t *testing.T) {
	clk := newClock()
	o := open(t, outbox.Options{Now: clk.now})
	a, _ := o.Append(ctx, conv(1))
	ev, _ := o.Claim(ctx, 1, time.Hour)
	if err := o.Release(ctx, ev[0].ID); err != nil {
		t.Fatal(err)
	}
	ev, _ = o.Claim(ctx, 1, time.Hour)
	if len(ev) != 1 || ev[0].Attempts != 1 {
		t.Fatalf("a released event is due at once and its attempt is not counted: %+v", ev)
	}
	if _, err := o.Retry(ctx, a.ID); !errors.Is(err, outbox.ErrNotRetryable) {
		t.Errorf("retrying a queued event: %v", err)
	}
	o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateRejected, Attempt: sidecar.Attempt{N: 1, Status: 422, Outcome: "rejected"}})
	if n, err := o.Retry(ctx, a.ID); n != 1 || err != nil {
		t.Fatalf("retry: %d %v", n, err)
	}
	if _, err := o.Retry(ctx, "no-such-id"); sidecar.ErrorCode(err) != sidecar.ENotFound {
		t.Errorf("retry of a missing id: %v", err)
	}
	ev, _ = o.Claim(ctx, 1, time.Hour)
	o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDead, Attempt: sidecar.Attempt{N: ev[0].Attempts, Outcome: "dead"}})
	if n, err := o.RetryState(ctx, sidecar.StateDead); n != 1 || err != nil {
		t.Errorf("retry dead: %d %v", n, err)
	}
	if _, err := o.RetryState(ctx, sidecar.StateDelivered); err == nil {
		t.Error("delivered events were retried")
	}
}

func TestExpireDeadTakesEventsPastTheMaxAgeButNotLeasedOnes(t *testing.T) {
	clk := newClock()
	o := open(t, outbox.Options{Now: clk.now})
	leased, _ := o.Append(ctx, conv(1))
	waiting, _ := o.Append(ctx, conv(2))
	if ev, _ := o.Claim(ctx, 1, 100*time.Hour); len(ev) != 1 || ev[0].ID != leased.ID {
		t.Fatal("claim order")
	}
	clk.advance(71 * time.Hour)
	if ids, _ := o.ExpireDead(ctx, 72*time.Hour); len(ids) != 0 {
		t.Fatalf("expired before the max age: %v", ids)
	}
	clk.advance(time.Hour)
	ids, err := o.ExpireDead(ctx, 72*time.Hour)
	if err != nil || len(ids) != 1 || ids[0] != waiting.ID {
		t.Fatalf("expired %v %v; want only %s", ids, err, waiting.ID)
	}
	if e, _, _ := o.Get(ctx, leased.ID); e.State != sidecar.StateQueued {
		t.Errorf("an event in delivery was dead-lettered: %s", e.State)
	}
	if n, err := o.RestartAge(ctx); n != 1 || err != nil {
		t.Fatalf("restart age: %d %v", n, err)
	}
	clk.advance(100 * time.Hour) // the lease is over; the age counts from the restart
	if ids, _ := o.ExpireDead(ctx, 72*time.Hour); len(ids) != 1 {
		t.Errorf("after a restart and 100h: %v", ids)
	}
}

func TestRetentionErasesEmailAndIPOfFinishedEvents(t *testing.T) {
	clk := newClock()
	o := open(t, outbox.Options{Now: clk.now})
	done, _ := o.Append(ctx, conv(1))
	waiting, _ := o.Append(ctx, conv(2))
	o.Claim(ctx, 1, time.Minute)
	o.Record(ctx, sidecar.Result{EventID: done.ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}})
	clk.advance(31 * 24 * time.Hour)
	n, err := o.Retain(ctx, 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("erased %d %v", n, err)
	}
	e, _, _ := o.Get(ctx, done.ID)
	if e.Conversion.Email != "" || e.Conversion.IP != "" || !e.Erased || e.Conversion.ClickID != "click-1" {
		t.Errorf("finished event after retention: %+v", e)
	}
	if w, _, _ := o.Get(ctx, waiting.ID); w.Conversion.Email == "" {
		t.Error("a queued event lost its email")
	}
}

func TestTheFileAndItsDirectoryAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "outbox.db")
	o := open(t, outbox.Options{Path: path})
	o.Append(ctx, conv(1))
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700, path + "-wal": 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}

func TestAPathThatCannotBeWrittenIsAnErrorNamingIt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	os.WriteFile(file, nil, 0o600)
	path := filepath.Join(file, "outbox.db") // a directory that is a file
	_, err := outbox.Open(outbox.Options{Path: path})
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("error %v: want the path and the reason", err)
	}
}

func TestAFullDiskRefusesWithoutPartialRowsAndRecoversWithoutRestart(t *testing.T) {
	o := open(t, outbox.Options{})
	if _, err := o.Append(ctx, conv(0)); err != nil {
		t.Fatal(err)
	}
	before, _ := o.Stats(ctx)
	if err := o.SetMaxPages(1); err != nil { // smaller than the file: no page can be added
		t.Fatal(err)
	}
	var refused int
	big := conv(1)
	big.Conversion.SessionToken = strings.Repeat("x", 256)
	for i := 1; i <= 200; i++ {
		e := big
		e.Key = fmt.Sprintf("k-%d", i)
		_, err := o.Append(ctx, e)
		if err == nil {
			continue
		}
		if sidecar.ErrorCode(err) != sidecar.EUnavailable {
			t.Fatalf("append on a full disk: %v (code %q), want unavailable", err, sidecar.ErrorCode(err))
		}
		refused++
	}
	if refused == 0 {
		t.Fatal("the full disk refused nothing")
	}
	if o.LastWriteError() == nil {
		t.Error("the outbox does not know it cannot write")
	}
	after, _ := o.Stats(ctx)
	if stored := after.States[sidecar.StateQueued] - before.States[sidecar.StateQueued]; stored != 200-refused {
		t.Errorf("%d stored, %d refused of 200: a refused append left a row", stored, refused)
	}
	if err := o.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.SetMaxPages(1 << 30); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(ctx, conv(999)); err != nil {
		t.Fatalf("after space returned: %v", err)
	}
	if o.LastWriteError() != nil {
		t.Error("the outbox still thinks it cannot write")
	}
}

func TestConcurrentWritersClaimersAndReadersNeverSeeLocked(t *testing.T) {
	o := open(t, outbox.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := o.Append(ctx, conv(w*1000+i)); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				evs, err := o.Claim(ctx, 8, time.Minute)
				if err != nil {
					errs <- err
				}
				for _, e := range evs {
					if err := o.Record(ctx, sidecar.Result{EventID: e.ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: e.Attempts, Status: 201, Outcome: "delivered"}}); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := o.Stats(ctx); err != nil {
					errs <- err
				}
				if _, err := o.List(ctx, "", "", 20); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("under concurrency: %v", err)
	}
	st, _ := o.Stats(ctx)
	if total := st.States[sidecar.StateQueued] + st.States[sidecar.StateDelivered]; total != 800 {
		t.Errorf("%d events, want 800", total)
	}
}

func TestListPagesNewestFirst(t *testing.T) {
	o := open(t, outbox.Options{})
	var ids []string
	for i := 0; i < 5; i++ {
		a, _ := o.Append(ctx, conv(i))
		ids = append(ids, a.ID)
	}
	page, _ := o.List(ctx, "", "", 2)
	if len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] {
		t.Fatalf("first page %v", page)
	}
	next, _ := o.List(ctx, "", page[1].ID, 10)
	if len(next) != 3 || next[0].ID != ids[2] {
		t.Errorf("second page %d", len(next))
	}
	if q, _ := o.List(ctx, sidecar.StateDead, "", 0); len(q) != 0 {
		t.Errorf("dead: %d", len(q))
	}
}

// TestTheWALStartsAfreshUnderSteadyWrites holds the checkpointer to its
// promise: writes that never pause must not keep SQLite from starting the
// WAL from its beginning, or it grows without end, and every page read
// searches more of it. Each restart bumps the checkpoint sequence number in
// the WAL file's header.
func TestTheWALStartsAfreshUnderSteadyWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, outbox.Options{Path: path, CheckpointEvery: 20 * time.Millisecond})
	stop := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; time.Now().Before(stop); i += 16 {
				if _, err := o.Append(ctx, conv(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	header := make([]byte, 32)
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(header, 0); err != nil {
		t.Fatal(err)
	}
	restarts := binary.BigEndian.Uint32(header[12:16])
	t.Logf("the WAL started afresh %d times in a second of steady writes", restarts)
	if restarts < 5 {
		t.Errorf("the WAL started afresh %d times in a second of steady writes, checkpointing every 20ms; want 5 at least", restarts)
	}
}

// A burst of accepts is taken first: while callers' appends keep the writer
// busy, the relay's claims wait for a turn, one every quarter of a second,
// and never longer; once the burst is over they go at once. The stats (the
// dashboard's and the metrics') say when a burst is on.
func TestTheRelayYieldsToABurstOfAppendsButIsNeverStarved(t *testing.T) {
	o := open(t, outbox.Options{})
	burst, stop := make(chan struct{}), make(chan struct{})
	var appenders sync.WaitGroup
	var appended atomic.Int64
	for w := 0; w < 64; w++ {
		appenders.Add(1)
		go func() {
			defer appenders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := appended.Add(1)
				if _, err := o.Append(ctx, conv(int(n))); err != nil {
					t.Error(err)
					return
				}
				if n == 2000 {
					close(burst)
				}
			}
		}()
	}
	<-burst
	time.Sleep(300 * time.Millisecond) // the writer weighs its load every 100 ms
	claims, claimed := 0, 0
	for start := time.Now(); time.Since(start) < 1500*time.Millisecond; claims++ {
		evs, err := o.Claim(ctx, 16, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		claimed += len(evs)
	}
	if st, err := o.Stats(ctx); err != nil || !st.Burst {
		t.Errorf("stats during the burst: burst %v, %v; want true", st.Burst, err)
	}
	close(stop)
	appenders.Wait()
	// A turn every 250 ms: six in 1.5 s, and one more begun at its end.
	// Without the yielding, claims go as fast as appends: hundreds.
	if claims < 3 || claims > 9 {
		t.Errorf("%d claims in 1.5 s of a burst of %d appends, want 3 to 9 (a turn every 250 ms)", claims, appended.Load())
	}
	if claimed == 0 {
		t.Error("the claims during the burst leased nothing")
	}
	// Nothing written since the burst: an idle writer is busy no more.
	time.Sleep(250 * time.Millisecond)
	if st, err := o.Stats(ctx); err != nil || st.Burst {
		t.Errorf("stats after the burst: burst %v, %v; want false", st.Burst, err)
	}
	start := time.Now()
	for i := 0; i < 10; i++ {
		if _, err := o.Claim(ctx, 16, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("10 claims after the burst took %v: the relay still waits for turns (2.5 s would be ten turns)", took)
	}
}
