package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// errNoBouncer is PgBouncer not installed.
var errNoBouncer = errors.New("PgBouncer is not installed (no pgbouncer on PATH or in /usr/sbin)")

// Bouncer starts Debian's PgBouncer in transaction mode (a server
// connection is lent to a client for one transaction, as poolers in front
// of managed databases do) in front of the database at dbURL, and returns
// the URL of the same database through it, with the same user and
// password. PgBouncer refuses to run as root: it runs as the postgres user
// then. It is stopped when t ends; without PgBouncer the test skips
// (fails when CI is set).
func Bouncer(t testing.TB, dbURL string) string {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr == nil {
			bin, err = "/usr/sbin/pgbouncer", nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("skipping PgBouncer: %v; install Debian's pgbouncer package (CI fails here)", errNoBouncer)
		}
		t.Fatalf("PgBouncer for tests: %v", errNoBouncer)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	user := u.User.Username()
	password, _ := u.User.Password()
	db := strings.TrimPrefix(u.Path, "/")
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatalf("the database URL's host: %v", err)
	}
	dir, err := os.MkdirTemp("", "glp-pgbouncer-") // not t.TempDir: the postgres user must reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	listen, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%s dbname=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
pool_mode = transaction
default_pool_size = 20
max_client_conn = 400
ignore_startup_parameters = extra_float_digits
logfile = %s
`, db, host, port, db, listen, filepath.Join(dir, "users.txt"), filepath.Join(dir, "log"))
	files := map[string]string{
		"pgbouncer.ini": ini,
		"users.txt":     authQuote(user) + " " + authQuote(password) + "\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := chown(path); err != nil {
			t.Fatal(err)
		}
	}
	if err := chown(dir); err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 { // PgBouncer refuses to run as root
		cmd = exec.Command("setpriv", append([]string{"--reuid=postgres", "--regid=postgres", "--init-groups", "--pdeathsig=KILL", "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(listen))
	for deadline := time.Now().Add(30 * time.Second); ; {
		conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", addr)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("pgbouncer exited: %s%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer did not listen within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	through := *u
	through.Host = addr
	return through.String()
}

// authQuote quotes s for PgBouncer's auth_file: in double quotes, a double
// quote doubled.
func authQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
