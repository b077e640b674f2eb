package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes at a new directory and returns it;
// it is unmounted at the end of the test, after what the test started. It
// needs root (or CAP_SYS_ADMIN): without, the test skips.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (root needed): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file in dir until the disk is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// TestAFullDiskIsLoggedOnceASecondAndNamedAsTheRelaysReason runs serve with
// its outbox on a small file system, behind an upstream answering 503: the
// relay's reason is the upstream's. Then the disk fills up: the refused
// conversions are logged once a second at most, not once each, and
// /readyz's reason and the relay's name the disk, not the upstream's old
// 503. Space back, conversions are stored again.
func TestAFullDiskIsLoggedOnceASecondAndNamedAsTheRelaysReason(t *testing.T) {
	t.Parallel()
	disk := smallDisk(t, 4<<20)
	mockURL := serveMockInProcess(t)
	call(t, "POST", mockURL+"/_mock/faults", "", `{"status":503,"count":-1}`)
	c, logs := startLogged(t, serveEnv(t, "GLP_API_URL="+mockURL, "GLP_DB_PATH="+filepath.Join(disk, "outbox.db"),
		"GLP_RETRY_INITIAL=50ms", "GLP_RETRY_MAX_INTERVAL=200ms", "GLP_RATE_LIMIT=0"), "serve")
	u := c.urls(t)
	public, admin := u[0], u[1]
	if status, _, _ := call(t, "POST", public+"/glp-s2s-conversion", testIngestToken, `{"glpClickId":"disk-0","conversion_id":"disk-0"}`); status != 202 {
		t.Fatalf("before: %d", status)
	}
	relayReason := func() string {
		_, ready, _ := call(t, "GET", admin+"/readyz", "", "")
		r, _ := ready["relay"].(map[string]any)
		s, _ := r["reason"].(string)
		return s
	}
	waitFor(t, func() bool { return strings.Contains(relayReason(), "503") })

	filler := fill(t, disk)
	began := time.Now()
	refused := 0
	for i := 0; time.Since(began) < 2*time.Second; i++ {
		body := fmt.Sprintf(`{"glpClickId":"disk-%d","conversion_id":"disk-%d","session_token":%q}`, i+1, i+1, strings.Repeat("s", 200))
		if status, _, _ := call(t, "POST", public+"/glp-s2s-conversion", testIngestToken, body); status == 503 {
			refused++
		}
	}
	took := time.Since(began)
	lines := strings.Count(logs.String(), "conversion not stored")
	t.Logf("%d conversions refused in %s, %d log lines", refused, took.Round(time.Millisecond), lines)
	if refused < 20 {
		t.Fatalf("only %d refused: the disk is not full; log: %s", refused, logs)
	}
	if max := int(took/time.Second) + 1; lines > max {
		t.Errorf("%d log lines of refused conversions in %s, want %d at most", lines, took, max)
	}
	status, ready, _ := call(t, "GET", admin+"/readyz", "", "")
	if reason, _ := ready["reason"].(string); status != 503 || !strings.Contains(reason, "disk is full") {
		t.Errorf("/readyz: %d %v, want 503 naming the disk", status, ready)
	}
	if r := relayReason(); !strings.Contains(r, "disk is full") || strings.Contains(r, "upstream 503") {
		t.Errorf("the relay's reason with the disk full: %q, want the disk, not the upstream's old 503", r)
	}

	os.Remove(filler)
	waitFor(t, func() bool {
		status, _, _ := call(t, "POST", public+"/glp-s2s-conversion", testIngestToken, `{"glpClickId":"disk-after","conversion_id":"disk-after"}`)
		return status == 202
	})
}
