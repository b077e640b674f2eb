package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

const crashChildEnv = "GLP_OUTBOX_CRASH_CHILD"

// TestCrashChild is the child process of the crash test: it appends from
// many goroutines until it is killed, printing "ack KEY ID" for each append
// the outbox acknowledged.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("only runs as the child of TestAcknowledgedEventsSurviveSIGKILL")
	}
	o, err := sqlite.Open(sqlite.Options{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	prefix := os.Getenv(crashChildEnv + "_PREFIX")
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				a, err := o.Append(context.Background(), sidecar.NewEvent{Key: key, Conversion: sidecar.Conversion{ClickID: "c-" + key, ConversionID: key, Email: "p@example.com"}})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %s %s\n", key, a.ID)
				out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

func TestAcknowledgedEventsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[string]string{} // key → id
	const rounds = 15
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, fmt.Sprintf("%s_PREFIX=r%d", crashChildEnv, round))
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan map[string]string)
		go func() {
			got := map[string]string{}
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 3 && f[0] == "ack" {
					got[f[1]] = f[2]
				}
			}
			lines <- got
		}()
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		got := <-lines
		cmd.Wait()
		if strings.Contains(stderr.String(), "append") || strings.Contains(stderr.String(), "outbox") {
			t.Fatalf("round %d: the child failed: %s", round, stderr.String())
		}
		for k, v := range got {
			acked[k] = v
		}

		o, err := sqlite.Open(sqlite.Options{Path: path})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if err := o.IntegrityCheck(context.Background()); err != nil {
			t.Fatalf("round %d: integrity: %v", round, err)
		}
		stored := map[string]string{}
		before := ""
		for {
			page, err := o.List(context.Background(), "", before, sqlite.MaxListLimit)
			if err != nil {
				t.Fatalf("round %d: list: %v", round, err)
			}
			for _, e := range page {
				if e.Key != e.Conversion.ConversionID || e.Conversion.ClickID != "c-"+e.Key || e.State != sidecar.StateQueued {
					t.Fatalf("round %d: a half-written event: %+v", round, e)
				}
				stored[e.Key] = e.ID
			}
			if len(page) < sqlite.MaxListLimit {
				break
			}
			before = page[len(page)-1].ID
		}
		o.Close()
		for k, id := range acked {
			if stored[k] != id {
				t.Fatalf("round %d: acknowledged %s (%s) is missing after SIGKILL", round, k, id)
			}
		}
		t.Logf("round %d: %d acknowledged this round, %d stored in all", round, len(got), len(stored))
	}
	if len(acked) < rounds {
		t.Fatalf("only %d acknowledgements in %d rounds: the child did not work", len(acked), rounds)
	}
}
