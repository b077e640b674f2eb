package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/internal/pgtest"
)

// binary is the sidecar built for the tests that run it as a child process,
// the way users and containers do: once per run, by the first of them
// (buildBinary), in binDir.
var (
	binDir     string
	binary     string
	buildOnce  sync.Once
	buildError error
)

// testParallel is how many tests run at once unless -parallel says: they
// mostly wait (on child processes, timeouts, backoff, polls, a browser), so
// more than the CPUs (go test's default) keeps the CPUs busy.
const testParallel = 8

// selfChild, in a child's environment, makes this test binary run the
// sidecar (main) instead of its tests: see buildBinary.
const selfChild = "SIDECAR_TEST_RUN_MAIN=1"

func TestMain(m *testing.M) {
	if slices.Contains(os.Environ(), selfChild) {
		main() // exits
	}
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", strconv.Itoa(testParallel))
	}
	if err := loadInProcessConfigs(); err != nil {
		panic("the in-process tests' configuration: " + err.Error())
	}
	dir, err := os.MkdirTemp("", "sidecar-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	pgtest.Stop() // the PostgreSQL cluster of the fleet tests, if they started one
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary returns the sidecar the child-process tests run, and what
// its environment needs for it to run as the sidecar.
//
// Without -short (CI, the README's command) it is built by go build, as
// users build it, with the race detector when the test binary has it
// (raceTest): measured on the crash campaign and the bench table, the
// child's race detector costs about 15 % more CPU than a plain build (once
// its exit sleep is off, childRace), for races found in serve under
// SIGKILL. Under -short (the quick loop) it is this test binary, told by
// selfChild to run main: the same code, with the test binary's race
// setting, and no sidecar to link, which was the loop's longest wait.
func buildBinary(t *testing.T) (string, []string) {
	t.Helper()
	if testing.Short() {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		return self, []string{selfChild}
	}
	buildOnce.Do(func() {
		out := filepath.Join(binDir, "sidecar")
		args := []string{"build", "-o", out, "."}
		if raceTest {
			args = []string{"build", "-race", "-o", out, "."}
		}
		build := exec.Command("go", args...)
		if msg, err := build.CombinedOutput(); err != nil {
			buildError = fmt.Errorf("build sidecar: %v\n%s", err, msg)
			return
		}
		binary = out
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return binary, nil
}

// skipIfShort skips a test that `go test -short` leaves out (README, "Tests
// and CI"): it drives Chromium or an example's toolchain, generates real
// load, restarts PostgreSQL, builds the sidecar or runs a
// crash campaign. CI runs without -short.
func skipIfShort(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + ": runs without -short")
	}
}

// child is a running sidecar process.
type child struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *bytes.Buffer
}

// childRace is the race detector's setting for the child: a race-enabled
// program sleeps a second at exit by default (for other goroutines to
// report), which each command and each clean stop of the tests would wait
// out. A race is still reported, and exits 66.
const childRace = "GORACE=atexit_sleep_ms=0"

// sidecarCmd prepares the sidecar with only the given environment (plus PATH,
// HOME and childRace), so that the developer's own GLP_ variables never leak in.
func sidecarCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	bin, self := buildBinary(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), childRace}, self...), env...)
	cmd.Dir = t.TempDir()
	return cmd
}

func start(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	cmd := sidecarCmd(t, env, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdout: bufio.NewReader(out), stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return c
}

// url waits for the child's first line and returns the first URL in it.
func (c *child) url(t *testing.T) string {
	t.Helper()
	u := c.urls(t)
	if len(u) == 0 {
		t.Fatalf("no URL printed; stderr: %s", c.stderr)
	}
	return u[0]
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// End to end, a bad configuration is exit status 2 and one line on
// standard error that names the variable; which configurations are bad is
// config's own test (config.TestABadConfigurationIsAnErrorNamingTheVariable).
func TestBadConfigurationExitsTwoWithOneLineNamingTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     []string
		args    []string
		varName string
	}{
		{"serve without a provider id", []string{"GLP_API_TOKEN=test-token"}, []string{"serve"}, "GLP_PROVIDER_ID"},
		{"mock providers that do not parse", []string{"GLP_MOCK_PROVIDERS=oops"}, []string{"mock"}, "GLP_MOCK_PROVIDERS"},
		{"an unknown command", nil, []string{"frobnicate"}, "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr := runToExit(t, tt.env, tt.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.varName) {
				t.Errorf("stderr %q: want one line naming %s", stderr, tt.varName)
			}
		})
	}
}

func TestTheMockShutsDownCleanlyOnSIGTERMAndSIGINT(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			c := start(t, []string{"GLP_MOCK_LISTEN_ADDR=127.0.0.1:0"}, "mock")
			base := c.url(t)
			resp, err := httpPost(base+"/api/track/v1/conversion", "test-token", `{"providerId":123,"transaction_id":"sig"}`)
			if err != nil || resp != 201 {
				t.Fatalf("conversion: %d %v", resp, err)
			}
			c.cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- c.cmd.Wait() }()
			select {
			case err := <-done:
				if code := exitStatus(err); code != 0 {
					t.Errorf("exit %d after %s; stderr: %s", code, sig, c.stderr)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("still running 20s after %s", sig)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	out, err := sidecarCmd(t, nil, "version").Output()
	if err != nil || !strings.Contains(string(out), "go1.") || !strings.HasPrefix(string(out), "glp-sidecar ") {
		t.Errorf("version: %q %v", out, err)
	}
	out, err = sidecarCmd(t, nil, "help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GLP_PROVIDER_ID", "GLP_API_TOKEN_FILE", "GLP_RETRY_MAX_AGE", "GLP_MOCK_PROVIDERS", "123=test-token", "outbox"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("help lacks %s", want)
		}
	}
}

func httpPost(url, token, body string) (int, error) {
	req, err := newJSONRequest(url, token, body)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// baseEnv is the least configuration serve needs, on ports the OS picks,
// but the outbox file.
var baseEnv = []string{
	"GLP_PROVIDER_ID=123", "GLP_API_TOKEN=test-token", "GLP_API_URL=http://127.0.0.1:9",
	"GLP_LISTEN_ADDR=127.0.0.1:0", "GLP_ADMIN_ADDR=127.0.0.1:0", "GLP_INGEST_TOKEN=" + testIngestToken,
	// Tests post browser calls without landing first; those of which
	// browser calls are queued, and the pages in Chromium, add corroborated
	// (the default), the demo's own.
	"GLP_BROWSER_CALLS=open",
}

// corroborated puts a test's sidecar back on the default GLP_BROWSER_CALLS.
const corroborated = "GLP_BROWSER_CALLS=corroborated"

// serveEnv is the least configuration serve needs, with an outbox file of
// the test's own.
func serveEnv(t *testing.T, extra ...string) []string {
	env := append(slices.Clone(baseEnv), "GLP_DB_PATH="+filepath.Join(t.TempDir(), "outbox.db"))
	return append(env, extra...)
}

// runToExit runs the sidecar until it exits, and returns its exit status
// and standard error. It is killed after 20 s: a sidecar that took what it
// was given serves until stopped.
func runToExit(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := sidecarCmd(t, env, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Start()
	kill := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer kill.Stop()
	return exitStatus(cmd.Wait()), stderr.String()
}

func TestServeNamesADataPathItCannotWrite(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o600)
	cmd := sidecarCmd(t, serveEnv(t, "GLP_DB_PATH="+filepath.Join(file, "outbox.db")), "serve")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if code := exitStatus(cmd.Run()); code != 2 || !strings.Contains(stderr.String(), file) || !strings.Contains(stderr.String(), "GLP_DB_PATH") {
		t.Errorf("exit %d, stderr %q: want 2 (bad configuration), the variable and the path", code, stderr.String())
	}
}

func TestServeAcceptsOnBothPathsAndStopsCleanly(t *testing.T) {
	t.Parallel()
	c := start(t, serveEnv(t), "serve")
	base := c.url(t)
	for _, path := range []string{"/glp-s2s-conversion", "/api/glp-s2s-conversion"} {
		status, err := httpPost(base+path, "", `{"glpClickId":"abc","email":"pat@example.com"}`)
		if err != nil || status != 202 {
			t.Errorf("%s: %d %v", path, status, err)
		}
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := exitStatus(c.cmd.Wait()); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr: %s", code, c.stderr)
	}
	if strings.Contains(c.stderr.String(), "test-token") {
		t.Error("the token appears in the log")
	}
}

func TestWaitAnswersWithTheUpstreamsOutcome(t *testing.T) {
	t.Parallel()
	upURL := serveMockInProcess(t)
	c := start(t, serveEnv(t, "GLP_API_URL="+upURL), "serve")
	base := c.url(t)
	tests := []struct {
		body, status string
		code         int
	}{
		{`{"glpClickId":"wait-1","conversion_id":"w-1"}`, "ok", 201},
		{`{"glpClickId":"wait-1","conversion_id":"w-2"}`, "duplicate", 200},
		{`{"email":"nobody@example.com"}`, "rejected", 422},
	}
	for _, tt := range tests {
		req, _ := newJSONRequest(base+"/glp-s2s-conversion?wait=10s", testIngestToken, tt.body) // ?wait= is for server calls
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Status   string          `json:"status"`
			EventID  string          `json:"event_id"`
			Upstream json.RawMessage `json:"upstream"`
		}
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != tt.code || got.Status != tt.status || got.EventID == "" || len(got.Upstream) == 0 {
			t.Errorf("%s: %d %+v, want %d %s with the upstream's body", tt.body, resp.StatusCode, got, tt.code, tt.status)
		}
	}
}

func TestSIGTERMDrainsForTheShutdownDelay(t *testing.T) {
	t.Parallel()
	c := start(t, serveEnv(t, "GLP_SHUTDOWN_DELAY=1500ms"), "serve")
	u := c.urls(t)
	pub, adm := u[0], u[1]
	c.cmd.Process.Signal(syscall.SIGTERM)
	// Once the signal is taken, readyz answers 503 for the shutdown delay.
	ready := 200
	for deadline := time.Now().Add(time.Second); ready != 503 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(adm + "/readyz")
		if err != nil {
			t.Fatalf("readyz while draining: %v", err)
		}
		ready = resp.StatusCode
		resp.Body.Close()
	}
	if ready != 503 {
		t.Fatalf("readyz while draining: %d, want 503", ready)
	}
	if status, err := httpPost(pub+"/glp-s2s-conversion", "", `{"glpClickId":"late"}`); err != nil || status != 202 {
		t.Errorf("a conversion while draining: %d %v", status, err)
	}
	if code := exitStatus(c.cmd.Wait()); code != 0 {
		t.Errorf("exit %d; stderr: %s", code, c.stderr)
	}
}
