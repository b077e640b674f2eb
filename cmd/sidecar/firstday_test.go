package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
)

// The first day of an installation: the version, a misspelled variable,
// and the credentials checked before a patient converts.

func TestVersionIsTheReleaseTheLinkerOrGoRecorded(t *testing.T) {
	t.Parallel()
	tagged := &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	for _, tt := range []struct {
		name, linked string
		info         *debug.BuildInfo
		want         string
	}{
		{"a release build (-X main.version=0.3.0)", "0.3.0", devel, "0.3.0"},
		{"go install …@v0.3.0", "dev", tagged, "0.3.0"},
		{"go build in a clone past the tag", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1-0.20261206061300-733ca39abcde+dirty"}}, "0.3.1-0.20261206061300-733ca39abcde+dirty"},
		{"go build without VCS stamping", "dev", devel, "dev"},
		{"no build information", "dev", nil, "dev"},
	} {
		if got := versionOf(tt.linked, tt.info); got != tt.want {
			t.Errorf("%s: versionOf = %q, want %q", tt.name, got, tt.want)
		}
	}
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		out, errs, code := runCmd(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "glp-sidecar ") || !strings.Contains(out, "go1.") || errs != "" {
			t.Errorf("%v: exit %d, %q %q: want the version line", args, code, out, errs)
		}
	}
	out, _, code := runCmd(t, nil, "--version", "extra")
	if code != 2 {
		t.Errorf("--version extra: exit %d, %q: want a usage error", code, out)
	}
}

func TestAnUnknownVariableIsWarnedAtStartWithTheNearestName(t *testing.T) {
	t.Parallel()
	const value = "a-misplaced-ingest-token-value"
	// stopped reads a child's log once it has exited (its stderr is copied
	// by another goroutine until then).
	stopped := func(c *child) string {
		c.url(t) // started: the warnings come before
		c.cmd.Process.Signal(syscall.SIGTERM)
		if code := exitStatus(c.cmd.Wait()); code != 0 {
			t.Errorf("exit %d after SIGTERM", code)
		}
		return c.stderr.String()
	}
	log := stopped(start(t, serveEnv(t, "GLP_INGEST_TOKN="+value, "GLP_ALLOWED_ORIGIN=https://www.example.com"), "serve"))
	for _, want := range []string{
		"GLP_INGEST_TOKN is not a variable glp-sidecar reads, and is ignored: did you mean GLP_INGEST_TOKEN?",
		"GLP_ALLOWED_ORIGIN is not a variable glp-sidecar reads, and is ignored: did you mean GLP_ALLOWED_ORIGINS?",
	} {
		if n := strings.Count(log, want); n != 1 {
			t.Errorf("the log says %q %d times, want once:\n%s", want, n, log)
		}
	}
	if strings.Contains(log, value) {
		t.Error("the warning shows the variable's value")
	}
	// The variables the project's own tests and scripts set are not warned about.
	if log := stopped(start(t, serveEnv(t, "GLP_TEST_DB_URL=postgres://x", "GLP_MOCK_PROVIDERS=123=test-token"), "serve")); strings.Contains(log, "is not a variable") {
		t.Errorf("a known variable is warned about:\n%s", log)
	}

	// A misspelled required variable: the one line of exit 2 names both.
	code, stderr := runToExit(t, []string{"GLP_PROVIDR_ID=123", "GLP_API_TOKEN=test-token"}, "serve")
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "GLP_PROVIDER_ID: is required") ||
		!strings.Contains(stderr, "did you mean GLP_PROVIDER_ID?") {
		t.Errorf("exit %d, stderr %q: want 2 and one line naming GLP_PROVIDER_ID and the misspelling", code, stderr)
	}
}

func TestCheckTellsAGoodTokenFromABadOneAgainstTheMock(t *testing.T) {
	t.Parallel()
	mock := serveMockInProcess(t)
	env := func(provider, token string) []string {
		return []string{"GLP_PROVIDER_ID=" + provider, "GLP_API_TOKEN=" + token, "GLP_API_URL=" + mock}
	}
	out, errs, code := runCmd(t, env("123", "test-token"), "check")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "check: GLP Winner accepted the credentials of provider 123 at "+mock+" (201,") {
		t.Errorf("good token: exit %d, stdout %q, stderr %q: want 0 and one line saying so", code, out, errs)
	}
	for _, tt := range []struct {
		name, provider, token, want string
	}{
		{"a token GLP Winner does not know", "123", "wrong-token-1234", "(403: Unauthorized: Invalid API token.): it does not know this token; set GLP_API_TOKEN"},
		{"another provider's token", "999", "test-token", "the token is not provider 999's; set GLP_PROVIDER_ID"},
	} {
		out, errs, code := runCmd(t, env(tt.provider, tt.token), "check")
		if code != 1 || out != "" || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, tt.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q: want 1 and one line with %q", tt.name, code, out, errs, tt.want)
		}
		if strings.Contains(errs, tt.token) {
			t.Errorf("%s: the token is printed: %s", tt.name, errs)
		}
	}
	_, errs, code = runCmd(t, []string{"GLP_PROVIDER_ID=123", "GLP_API_TOKEN=test-token", "GLP_API_URL=http://127.0.0.1:9", "GLP_REQUEST_TIMEOUT=2s"}, "check")
	if code != 1 || !strings.Contains(errs, "no answer from provider 123 at http://127.0.0.1:9") || !strings.Contains(errs, "check GLP_API_URL") {
		t.Errorf("nothing listening: exit %d, %q", code, errs)
	}
	// The check's conversion is test data at the mock, never live data.
	var conversions []map[string]any
	getJSON(t, mock+"/_mock/conversions", &conversions)
	if len(conversions) != 1 || conversions[0]["test"] != true || !strings.HasPrefix(conversions[0]["glp_click_id"].(string), "glp-sidecar-check-") {
		t.Errorf("the mock holds %v: want one test-mode conversion of the check's click", conversions)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

// TestTheReferenceListsEveryCommand: docs/reference.md's table of commands
// names each command `sidecar help` lists.
func TestTheReferenceListsEveryCommand(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "reference.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Commands\n")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, c := range commands() {
		if !strings.Contains(section, "| `sidecar "+c.name) {
			t.Errorf("docs/reference.md's Commands table does not list sidecar %s", c.name)
		}
	}
}
