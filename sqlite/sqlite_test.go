package sqlite_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func open(t testing.TB, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	return openTuned(t, opts, sqlite.Tuning{})
}

func openTuned(t testing.TB, opts sqlite.Options, tune sqlite.Tuning) *sqlite.Store {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "data", "outbox.db")
	}
	o, err := sqlite.OpenTuned(opts, tune)
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

func TestTheFileAndItsDirectoryAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "outbox.db")
	o := open(t, sqlite.Options{Path: path})
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
	_, err := sqlite.Open(sqlite.Options{Path: path})
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("error %v: want the path and the reason", err)
	}
}

func TestAFullDiskRefusesWithoutPartialRowsAndRecoversWithoutRestart(t *testing.T) {
	o := open(t, sqlite.Options{})
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

// TestTheWALStartsAfreshUnderSteadyWrites holds the checkpointer to its
// promise: writes that never pause must not keep SQLite from starting the
// WAL from its beginning, or it grows without end, and every page read
// searches more of it. Each restart bumps the checkpoint sequence number in
// the WAL file's header.
func TestTheWALStartsAfreshUnderSteadyWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openTuned(t, sqlite.Options{Path: path}, sqlite.Tuning{CheckpointEvery: 20 * time.Millisecond})
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
	o := open(t, sqlite.Options{})
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
