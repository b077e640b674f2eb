package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startLogged is start with the child's standard error in a buffer that
// can be read while it runs.
func startLogged(t *testing.T, env []string, args ...string) (*child, *lockedBuffer) {
	t.Helper()
	return startCmdLogged(t, sidecarCmd(t, env, args...))
}

// startCmdLogged starts cmd as a child whose standard error is kept in a
// buffer that can be read while it runs; it is killed when the test ends.
func startCmdLogged(t *testing.T, cmd *exec.Cmd) (*child, *lockedBuffer) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &child{cmd: cmd, stdout: bufio.NewReader(out)}, logs
}

// TestDeletingTheDataFolderUnderServeIsNoticedWithinASecond removes the
// outbox's folder under a running sidecar, as a careless operator would:
// within a second the log says so without any request; /readyz fails
// naming the file; a conversion is answered 503 (the caller retries), never
// 202 into the unlinked file.
func TestDeletingTheDataFolderUnderServeIsNoticedWithinASecond(t *testing.T) {
	t.Parallel()
	mockURL := serveMockInProcess(t)
	dir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dir, "outbox.db")
	c, logs := startLogged(t, serveEnv(t, "GLP_API_URL="+mockURL, "GLP_DB_PATH="+db), "serve")
	u := c.urls(t)
	if len(u) != 2 {
		t.Fatalf("serve printed %v", u)
	}
	public, admin := u[0], u[1]
	body := `{"glpClickId":"folder-1","conversion_id":"folder-1"}`
	if status, _, _ := call(t, "POST", public+"/glp-s2s-conversion?wait=10s", testIngestToken, body); status != 201 { // delivered: the relay is idle from here
		t.Fatalf("before: %d", status)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	for !strings.Contains(logs.String(), "no longer at GLP_DB_PATH") {
		if time.Since(removed) > time.Second {
			t.Fatalf("a second after the folder was deleted, the log says nothing of it: %s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("logged %s after the deletion", time.Since(removed).Round(time.Millisecond))
	status, ready, _ := call(t, "GET", admin+"/readyz", "", "")
	if status != 503 || !strings.Contains(ready["reason"].(string), db) {
		t.Errorf("/readyz: %d %v, want 503 naming %s", status, ready, db)
	}
	status, answer, hd := call(t, "POST", public+"/glp-s2s-conversion", testIngestToken, `{"glpClickId":"folder-2","conversion_id":"folder-2"}`)
	if status != 503 || hd.Get("Retry-After") == "" || strings.Contains(answer["error"].(string), db) {
		t.Errorf("a conversion after the deletion: %d %v (Retry-After %q), want 503 with a Retry-After, the path kept from the caller", status, answer, hd.Get("Retry-After"))
	}
}
