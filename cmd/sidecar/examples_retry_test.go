package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/client"
)

// exampleRetryFor is the backend examples' TRACK_RETRY_SECONDS in these
// tests: long enough for a restart of the sidecar on a loaded machine,
// short enough to wait out once.
const exampleRetryFor = 8 * time.Second

// mockHeld counts the conversions the mock holds by external id (the
// order id).
func mockHeld(t *testing.T, mockURL string) map[string]int {
	t.Helper()
	resp, err := http.Get(mockURL + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var held []struct {
		ExternalID string `json:"external_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&held); err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, h := range held {
		n[h.ExternalID]++
	}
	return n
}

// signUp posts the example's sign-up form straight to the app, as the
// visitor's browser would through the sidecar, with the click id's cookie.
func signUp(appURL, click, email, order string) (int, string, error) {
	form := url.Values{"email": {email}}
	if order != "" {
		form.Set("order", order)
	}
	req, err := http.NewRequest(http.MethodPost, appURL+"/signup", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "_glp_cid", Value: click})
	resp, err := (&http.Client{Timeout: 2 * exampleRetryFor}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// stopChild sends SIGTERM and waits for the sidecar to exit.
func stopChild(t *testing.T, c *child) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()
}

// TestEveryBackendExampleRetriesAcrossARestartAndKeepsWhatItGaveUp holds
// each backend example to SPEC's shipped clients: a sign-up made while the
// sidecar restarts is tracked once it is back (the same order id, once at
// the mock), whether the visitor was answered "queued" or, past the
// example's wait, "pending"; one made while it stays down past the retry
// window is logged "not tracked" and kept as a JSON line that replays; a sign-up
// without an order id is refused, never sent under a stand-in id.
func TestEveryBackendExampleRetriesAcrossARestartAndKeepsWhatItGaveUp(t *testing.T) {
	t.Parallel()
	mockURL := serveMockInProcess(t)
	for i, ex := range backendExamples {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			needRuntime(t, ex.runtime, ex.install)
			port, sidecarPort := freePort(t), freePort(t)
			appURL := "http://127.0.0.1:" + port
			sidecarURL := "http://127.0.0.1:" + sidecarPort
			env := serveEnv(t, "GLP_API_URL="+mockURL, "GLP_INGEST_TOKEN="+exampleIngestToken, "GLP_LISTEN_ADDR=127.0.0.1:"+sidecarPort)
			if ex.proxied {
				env = append(env, "GLP_APP_URL="+appURL)
			}
			sc := start(t, env, "serve")
			sc.url(t)
			dir, argv := ex.command(t, examplesDir(t, ex.dir))
			for i := range argv {
				argv[i] = strings.ReplaceAll(argv[i], "$PORT", port)
			}
			kept := filepath.Join(t.TempDir(), "not-tracked.jsonl")
			out := runExample(t, dir, appURL, []string{"PORT=" + port, "SIDECAR_URL=" + sidecarURL, "GLP_INGEST_TOKEN=" + exampleIngestToken,
				"TRACK_RETRY_SECONDS=" + fmt.Sprint(int(exampleRetryFor.Seconds())), "NOT_TRACKED_FILE=" + kept}, argv...)

			// The bug was a second sign-up without an id answered duplicate;
			// an id is also a header (Idempotency-Key): never a line break.
			for _, order := range []string{"", "", "7001\r\nX-GLP-Test-Mode: true"} {
				status, answer, err := signUp(appURL, "ex-noid-"+ex.name, ex.name+"@example.com", order)
				if err != nil || status != 400 || !strings.Contains(answer, "order") {
					t.Fatalf("a sign-up with the order id %q: %d %q %v, want 400 naming the order", order, status, answer, err)
				}
			}

			// A restart: the sign-up comes while nothing listens.
			stopChild(t, sc)
			restarted := fmt.Sprint(5001 + i)
			type result struct {
				status int
				answer string
				err    error
			}
			done := make(chan result, 1)
			go func() {
				s, a, err := signUp(appURL, "ex-restart-"+ex.name, ex.name+"@example.com", restarted)
				done <- result{s, a, err}
			}()
			time.Sleep(1500 * time.Millisecond)
			sc = start(t, env, "serve")
			sc.url(t)
			r := <-done
			if r.err != nil || !(strings.HasPrefix(r.answer, "signed up; conversion queued (event ") || strings.HasPrefix(r.answer, "signed up; conversion pending")) {
				t.Fatalf("a sign-up during a restart of the sidecar: %d %q %v; output: %s", r.status, r.answer, r.err, out)
			}

			awaitConversion(t, mockURL, "ex-restart-"+ex.name) // a pending one, delivered before the next stop

			// The sidecar stays down past the retry window: given up, kept.
			stopChild(t, sc)
			givenUp := fmt.Sprint(6001 + i)
			_, answer, err := signUp(appURL, "ex-givenup-"+ex.name, ex.name+"@example.com", givenUp)
			if err != nil || !(strings.Contains(answer, "conversion not tracked") && strings.Contains(answer, "kept in") || strings.Contains(answer, "conversion pending")) {
				t.Fatalf("a sign-up with the sidecar down for good: %q %v, want it reported not tracked and kept, or pending", answer, err)
			}
			waitFor(t, func() bool {
				return strings.Contains(out.String(), "conversion not tracked") && strings.Contains(out.String(), "kept in")
			})
			sc = start(t, env, "serve")
			sc.url(t)
			f, err := os.Open(kept)
			if err != nil {
				t.Fatalf("nothing kept for replay: %v", err)
			}
			defer f.Close()
			line, _ := bufio.NewReader(f).ReadString('\n')
			if !strings.Contains(line, `"idempotency_key":"`+givenUp+`"`) {
				t.Fatalf("the kept line %q does not name the order %s", line, givenUp)
			}
			f.Seek(0, io.SeekStart)
			replay, err := client.New(client.Options{URL: sidecarURL, IngestToken: exampleIngestToken})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := replay.Replay(context.Background(), f); n != 1 || err != nil {
				t.Fatalf("replaying %q: %d %v", line, n, err)
			}
			awaitConversion(t, mockURL, "ex-givenup-"+ex.name)
			held := mockHeld(t, mockURL)
			if held[restarted] != 1 || held[givenUp] != 1 {
				t.Errorf("the mock holds order %s %d times and %s %d times, want each once", restarted, held[restarted], givenUp, held[givenUp])
			}
		})
	}
}

// mockConversions is every conversion the mock holds.
func mockConversions(t *testing.T, mockURL string) []map[string]any {
	t.Helper()
	resp, err := http.Get(mockURL + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	return all
}
