// Package pgtest gives tests a throwaway PostgreSQL: the server named by
// GLP_TEST_DB_URL when it is set, otherwise a cluster of Debian's
// postgresql package made in a temporary directory, on a free loopback
// port, started on first use and stopped by Main. Each test gets a database
// of its own (CREATE DATABASE is fast), dropped when it ends.
//
// Without PostgreSQL the tests that need it skip, and say so, unless CI is
// set: then its absence fails them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names a server to use instead of a cluster of our own: a URL whose
// user may create databases.
const EnvURL = "GLP_TEST_DB_URL"

// Password is the superuser's password in clusters this package makes.
const Password = "pgtest-secret-password"

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
)

// Main runs the package's tests and then stops the shared cluster, if one
// was started: call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops and removes the shared cluster, if one was started: for a
// TestMain that does more than Main.
func Stop() {
	if shared != nil {
		shared.Stop()
		shared.remove()
		shared = nil
	}
}

// URL returns the URL of a fresh, empty database for this test, on
// GLP_TEST_DB_URL's server or on the shared cluster; it skips the test when
// neither is there (fails it when CI is set).
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		sharedOnce.Do(func() { shared, sharedErr = start() })
		if sharedErr != nil {
			absent(t, sharedErr)
		}
		base = shared.URL("postgres")
	}
	return createDB(t, base)
}

// Own starts a cluster for this test alone (one it may stop and start
// again), stopped and removed when the test ends.
func Own(t testing.TB) *Cluster {
	t.Helper()
	c, err := start()
	if err != nil {
		absent(t, err)
	}
	t.Cleanup(func() { c.Stop(); c.remove() })
	return c
}

// errAbsent is PostgreSQL not installed.
var errAbsent = errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and " + EnvURL + " is not set")

func absent(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errAbsent) && os.Getenv("CI") == "" {
		t.Skipf("skipping PostgreSQL: %v; install Debian's postgresql package (CI fails here)", err)
	}
	t.Fatalf("PostgreSQL for tests: %v", err)
}

// Cluster is a PostgreSQL cluster in a temporary directory.
type Cluster struct {
	dir    string // holds data/, the socket and the server's log
	bin    string
	port   int
	mu     sync.Mutex
	server *exec.Cmd     // the postmaster, while it runs
	exited chan struct{} // closed when it has exited
}

// URL is the superuser's URL for database db, with the password.
func (c *Cluster) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", Password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/" + db}
	q := url.Values{"sslmode": {"disable"}}
	u.RawQuery = q.Encode()
	return u.String()
}

// Database creates a fresh database on the cluster for t and returns its URL.
func (c *Cluster) Database(t testing.TB) string {
	t.Helper()
	return createDB(t, c.URL("postgres"))
}

func findBin() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			found = []string{p}
		}
	}
	if len(found) == 0 {
		return "", errAbsent
	}
	sort.Strings(found) // the newest major version last, for versions of equal width
	return filepath.Dir(found[len(found)-1]), nil
}

// memDir is where a cluster is made when it can be: in memory (tmpfs), where
// creating and dropping a database, which each test does, took a fifth of
// the time it took on the shared machine's disk. Elsewhere, the temporary
// directory.
const memDir = "/dev/shm"

func start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(memDir, "glp-pgtest-")
	if err != nil {
		dir, err = os.MkdirTemp("", "glp-pgtest-")
	}
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin}
	if err := chown(dir); err != nil {
		c.remove()
		return nil, err
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o600); err != nil {
		c.remove()
		return nil, err
	}
	if err := chown(pwfile); err != nil {
		c.remove()
		return nil, err
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if c.port, err = freePort(); err != nil {
		c.remove()
		return nil, err
	}
	if err := c.Start(); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// Start starts the cluster (again) on its port and waits until it takes
// connections. The server is this process's child, and dies with it
// (PR_SET_PDEATHSIG): a test binary killed by its timeout leaves no
// PostgreSQL behind, only the temporary directory.
//
// It runs with fsync off (and initdb with --no-sync): a throwaway cluster
// needs no durability against a power cut, and on a disk the flushes were
// most of the PostgreSQL tests' time. What a test stops or kills is the
// server process, whose writes the kernel keeps; synchronous_commit stays
// at its default, as the sidecar expects.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	args := []string{"-D", c.data(), "-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "shared_buffers=64MB", "-c", "fsync=off"}
	postgres := filepath.Join(c.bin, "postgres")
	var cmd *exec.Cmd
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
		cmd = exec.Command("setpriv", append([]string{"--reuid=postgres", "--regid=postgres", "--init-groups", "--pdeathsig=KILL", "--", postgres}, args...)...)
	} else {
		cmd = exec.Command(postgres, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	logFile, err := os.OpenFile(filepath.Join(c.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.server, c.exited = cmd, exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			return fmt.Errorf("postgres exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not take connections within a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the cluster at once (fast shutdown: sessions are ended,
// nothing committed is lost) and waits for the server to exit.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server == nil {
		return nil
	}
	defer func() { c.server = nil }()
	c.server.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
		return nil
	case <-time.After(60 * time.Second):
		c.server.Process.Kill()
		<-c.exited
		return errors.New("postgres did not stop within a minute; killed")
	}
}

func (c *Cluster) remove() { os.RemoveAll(c.dir) }

// run runs one of PostgreSQL's programs, as the postgres user when this
// process is root (PostgreSQL refuses to run as root).
func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// chown gives path to the postgres user when this process is root.
func chown(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, and no postgres user to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// createDB makes a database named after nothing in particular on the
// server at base and drops it when t ends.
func createDB(t testing.TB, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "glp_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, base); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
