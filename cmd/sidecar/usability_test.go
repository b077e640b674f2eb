package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runCmd runs the sidecar with env and args and returns its stdout, stderr
// and exit status.
func runCmd(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := sidecarCmd(t, env, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := exitStatus(cmd.Run())
	return out.String(), errb.String(), code
}

func TestHealthcheckTakesABareHostPortAndNeverPanics(t *testing.T) {
	t.Parallel()
	s := startStackInProcess(t)
	addr := strings.TrimPrefix(s.admin, "http://")
	for _, arg := range []string{addr, s.admin, s.admin + "/healthz"} {
		if out, errs, code := runCmd(t, nil, "healthcheck", arg); code != 0 || strings.TrimSpace(out) != "ok" {
			t.Errorf("healthcheck %s: exit %d, %q %q", arg, code, out, errs)
		}
	}
	for _, arg := range []string{"nonsense", "ftp://x/", "127.0.0.1"} {
		_, errs, code := runCmd(t, nil, "healthcheck", arg)
		if code != 2 || strings.Contains(errs, "panic") || !strings.Contains(errs, "host:port") {
			t.Errorf("healthcheck %s: exit %d, stderr %q: want 2 and what it takes", arg, code, errs)
		}
	}
	if _, errs, code := runCmd(t, nil, "healthcheck", "127.0.0.1:1"); code != 1 || strings.Contains(errs, "panic") {
		t.Errorf("nothing listening: exit %d, stderr %q", code, errs)
	}
}

func TestServePrintsTheDashboardsAddress(t *testing.T) {
	t.Parallel()
	c := start(t, serveEnv(t), "serve")
	line, err := c.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed nothing: %v; stderr: %s", err, c.stderr)
	}
	m := regexp.MustCompile(`admin at (http://\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve printed %q: no admin address", line)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasSuffix(m[1], "/admin/") {
		t.Errorf("%s answers %d: the printed address must be the dashboard", m[1], resp.StatusCode)
	}
}

func TestStartUpErrorsExitTwoWithOneLineThatSaysWhatToDo(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := t.TempDir() + "/a-file"
	if err := writeEmpty(file); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, varName, want string
		env                 []string
		args                []string
	}{
		{"a provider id of 0", "GLP_PROVIDER_ID", "positive integer", serveEnv(t, "GLP_PROVIDER_ID=0"), []string{"serve"}},
		{"a negative provider id", "GLP_PROVIDER_ID", "positive integer", serveEnv(t, "GLP_PROVIDER_ID=-4"), []string{"serve"}},
		{"no provider id", "GLP_PROVIDER_ID", "is required", []string{"GLP_API_TOKEN=test-token"}, []string{"serve"}},
		{"a listen address without a port", "GLP_LISTEN_ADDR", "nonsense", serveEnv(t, "GLP_LISTEN_ADDR=nonsense"), []string{"serve"}},
		{"an admin address in use", "GLP_ADMIN_ADDR", busy.Addr().String(), serveEnv(t, "GLP_ADMIN_ADDR="+busy.Addr().String()), []string{"serve"}},
		{"a mock address in use", "GLP_MOCK_LISTEN_ADDR", busy.Addr().String(), []string{"GLP_MOCK_LISTEN_ADDR=" + busy.Addr().String()}, []string{"mock"}},
		{"a data path under a file", "GLP_DB_PATH", file, serveEnv(t, "GLP_DB_PATH="+file+"/outbox.db"), []string{"serve"}},
		{"a data path that is a directory", "GLP_DB_PATH", "directory", serveEnv(t, "GLP_DB_PATH="+t.TempDir()), []string{"serve"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs, code := runCmd(t, tt.env, tt.args...)
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "sidecar: "+tt.varName+": ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("exit %d, stderr %q: want 2 and one line naming %s and saying %q", code, errs, tt.varName, tt.want)
			}
		})
	}
}

func TestHelpListsEachVariableOnceAndDemoOnlyWhatMovesIt(t *testing.T) {
	t.Parallel()
	out, _, code := runCmd(t, nil, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	seen := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^(GLP_\w+)\s`).FindAllStringSubmatch(out, -1) {
		seen[m[1]]++
	}
	if len(seen) < 20 {
		t.Fatalf("help lists only %d variables:\n%s", len(seen), out)
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("help lists %s %d times", name, n)
		}
	}
	out, _, code = runCmd(t, nil, "help", "demo")
	var listed []string
	for _, m := range regexp.MustCompile(`(?m)^(GLP_\w+)\s`).FindAllStringSubmatch(out, -1) {
		listed = append(listed, m[1])
	}
	want := "GLP_LISTEN_ADDR GLP_ADMIN_ADDR GLP_MOCK_LISTEN_ADDR GLP_DB_PATH GLP_LOG_LEVEL GLP_LOG_FORMAT"
	if code != 0 || strings.Join(listed, " ") != want {
		t.Errorf("help demo (exit %d) lists %v, want %s:\n%s", code, listed, want, out)
	}
}

func TestOutboxRetrySaysPlainlyWhoWillSendTheEvents(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	s.convert(t, `{"email":"nobody@example.com"}`) // rejected by the mock
	env := []string{"GLP_DB_PATH=" + s.db, "GLP_ADMIN_ADDR=" + strings.TrimPrefix(s.admin, "http://")}
	out, errs, code := runCmd(t, env, "outbox", "retry", "--state", "rejected")
	if code != 0 || !strings.Contains(out, "requeued 1") || !strings.Contains(out, "within seconds") {
		t.Errorf("with the sidecar running (exit %d): %q %q", code, out, errs)
	}
	waitFor(t, func() bool {
		o, _, _ := runCmd(t, env, "outbox", "stats")
		return regexp.MustCompile(`rejected\s+1`).MatchString(o)
	})
	s.sidecar.cmd.Process.Signal(syscall.SIGTERM)
	s.sidecar.cmd.Wait()
	out, errs, code = runCmd(t, env, "outbox", "retry", "--state", "rejected")
	if code != 0 || !strings.Contains(out, "requeued 1") || !strings.Contains(out, "no sidecar answers") || strings.Contains(out, "within seconds") {
		t.Errorf("with no sidecar running (exit %d): %q %q", code, out, errs)
	}
	_, errs, code = runCmd(t, env, "outbox", "retry")
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if code != 2 || len(lines) != 1 || strings.Count(lines[0], "retry") != 1 || !strings.Contains(lines[0], "--state") {
		t.Errorf("retry without events (exit %d): %q: want one line that says what it takes, once", code, errs)
	}
}

func TestFlagsSayWhatTheyTakeAndHelpIsNoError(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"outbox", "purge", "--older-than", "soon"}, {"bench", "--duration", "soon"}} {
		_, errs, code := runCmd(t, nil, args...)
		if code != 2 || !strings.Contains(errs, "such as") || strings.Contains(errs, "parse error") {
			t.Errorf("%v: exit %d, %q: want 2 and what a duration looks like", args, code, errs)
		}
	}
	for _, args := range [][]string{{"bench", "--help"}, {"outbox", "list", "--help"}, {"outbox", "--help"}} {
		out, errs, code := runCmd(t, nil, args...)
		if code != 0 || strings.Contains(out+errs, "help requested") || !strings.Contains(out+errs, "-") {
			t.Errorf("%v: exit %d, %q %q: want the usage and 0", args, code, out, errs)
		}
	}
}

func TestVersionNamesTheCommitGoBuildStamped(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "4f66c00c"}, {Key: "vcs.modified", Value: "false"}}}
	dirty := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "4f66c00c"}, {Key: "vcs.modified", Value: "true"}}}
	installed := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261130230000-4f66c00c6420"}}
	tests := []struct {
		name, linked string
		info         *debug.BuildInfo
		want         string
	}{
		{"the linker's commit first", "abc123", stamped, "abc123"},
		{"go build in a git clone", "", stamped, "4f66c00c"},
		{"a tree with changes", "", dirty, "4f66c00c+dirty"},
		{"go install …@version", "", installed, "v0.0.0-20261130230000-4f66c00c6420"},
		{"no build information", "", nil, unknownCommit},
		{"built without VCS stamping", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, unknownCommit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commitOf(tt.linked, tt.info); got != tt.want {
				t.Errorf("commitOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func writeEmpty(path string) error { return os.WriteFile(path, nil, 0o600) }

// TestVersionShowsTheCommitOfAGitClone builds the tree as a fresh clone
// would (a git repository of its own, go build with VCS stamping, which
// this machine's go env may switch off) and asks the binary its version.
func TestVersionShowsTheCommitOfAGitClone(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "a second build of the sidecar, from a clone")
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git installed")
	}
	clone := t.TempDir()
	if err := os.CopyFS(clone, os.DirFS(filepath.Join("..", ".."))); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(clone, ".git")) // a worktree's .git is a file go does not follow
	gitRun := func(args ...string) string {
		cmd := exec.Command(git, append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = clone
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitRun("init", "-q")
	gitRun("add", "-A")
	gitRun("commit", "-qm", "clone")
	head := gitRun("rev-parse", "HEAD")
	bin := filepath.Join(t.TempDir(), "sidecar")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/sidecar")
	build.Dir = clone
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(out), "(commit "+head+",") {
		t.Errorf("version %q (%v): want commit %s", out, err, head)
	}
}

// A command that takes no arguments prints its help for --help, with a
// working environment set, and never starts; any other argument is a usage
// error naming it.
func TestACommandsHelpNeverStartsItAndAStrayArgumentIsRefused(t *testing.T) {
	t.Parallel()
	env := serveEnv(t, "GLP_LISTEN_ADDR=127.0.0.1:0", "GLP_ADMIN_ADDR=127.0.0.1:0", "GLP_MOCK_LISTEN_ADDR=127.0.0.1:0")
	for _, args := range [][]string{{"serve", "--help"}, {"mock", "-h"}, {"demo", "--help"}, {"version", "--help"}, {"healthcheck", "--help"}} {
		cmd := sidecarCmd(t, env, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Start()
		kill := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
		code := exitStatus(cmd.Wait())
		kill.Stop()
		if code != 0 || !strings.HasPrefix(out.String(), "usage: sidecar "+args[0]) || strings.Contains(errb.String(), "ready") || strings.Contains(out.String(), "http://") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want its usage, exit 0, nothing started", args, code, out.String(), errb.String())
		}
	}
	for _, args := range [][]string{{"serve", "--port", "80"}, {"mock", "extra"}} {
		code, stderr := runToExit(t, env, args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, args[1]) {
			t.Errorf("%v: exit %d, stderr %q: want 2 and one line naming %s", args, code, stderr, args[1])
		}
	}
}
