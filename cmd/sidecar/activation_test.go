package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sockets are listening sockets this test process holds, as systemd does
// under a socket unit, and passes to each sidecar it starts.
type sockets struct {
	public, admin net.Listener
	files         []*os.File // public, admin: fds 3 and 4 in the child
}

func openSockets(t *testing.T) *sockets {
	t.Helper()
	s := &sockets{}
	for _, ln := range []*net.Listener{&s.public, &s.admin} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		*ln = l
		s.files = append(s.files, f)
		t.Cleanup(func() { f.Close(); l.Close() })
	}
	return s
}

func (s *sockets) publicURL() string { return "http://" + s.public.Addr().String() }

// startPassed starts serve the way systemd starts a socket-activated
// service: the sockets from fd 3 on, LISTEN_FDS and LISTEN_FDNAMES, and
// LISTEN_PID set to the service's own pid (by the shell that execs it).
func (s *sockets) startPassed(t *testing.T, env []string, names string) (*child, *lockedBuffer) {
	t.Helper()
	cmd := sidecarCmd(t, env, "serve")
	bin := cmd.Path
	cmd.Path = "/bin/sh"
	cmd.Args = []string{"sh", "-c", `export LISTEN_PID=$$; exec "$0" "$@"`, bin, "serve"}
	cmd.Env = append(cmd.Env, fmt.Sprintf("LISTEN_FDS=%d", len(s.files)), "LISTEN_FDNAMES="+names)
	cmd.ExtraFiles = s.files
	return startCmdLogged(t, cmd)
}

// TestServeTakesItsSocketsFromSystemdAndAnswersWhatItAcceptedOnSIGTERM:
// passed sockets win over GLP_LISTEN_ADDR and GLP_ADMIN_ADDR (here
// addresses already taken, which serve would fail to bind); a socket with
// another name is refused, naming LISTEN_FDNAMES; on SIGTERM a request in
// flight through the proxy is answered before the sidecar exits 0, and a
// request sent after the old process stopped accepting waits in the
// socket for the next one instead of being refused.
func TestServeTakesItsSocketsFromSystemdAndAnswersWhatItAcceptedOnSIGTERM(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(time.Second)
		}
		fmt.Fprint(w, "page "+r.URL.Path)
	}))
	defer app.Close()
	mockURL := serveMockInProcess(t)
	env := serveEnv(t, "GLP_API_URL="+mockURL, "GLP_APP_URL="+app.URL,
		"GLP_LISTEN_ADDR="+taken.Addr().String(), "GLP_ADMIN_ADDR="+taken.Addr().String())

	s := openSockets(t)
	bad, _ := s.startPassed(t, env, "public:metrics")
	if err := bad.cmd.Wait(); exitStatus(err) != 2 {
		t.Errorf("sockets named public and metrics: exit %d, want 2", exitStatus(err))
	}

	c, logs := s.startPassed(t, env, "public:admin")
	u := c.urls(t)
	if len(u) != 2 || u[0] != s.publicURL() || u[1] != "http://"+s.admin.Addr().String() {
		t.Fatalf("serve printed %v, want the passed sockets %s and %s; log: %s", u, s.public.Addr(), s.admin.Addr(), logs)
	}
	if status, _, _ := call(t, "POST", s.publicURL()+"/glp-s2s-conversion", testIngestToken, `{"glpClickId":"passed-1","conversion_id":"passed-1"}`); status != 202 {
		t.Fatalf("a conversion on the passed socket: %d", status)
	}

	slow := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(s.publicURL() + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()
	time.Sleep(300 * time.Millisecond) // the slow request is in the app
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); exitStatus(err) != 0 {
		t.Errorf("exit %d after SIGTERM; log: %s", exitStatus(err), logs)
	}
	if got := <-slow; got != "200 page /slow" {
		t.Errorf("the request in flight at SIGTERM: %q, want it answered", got)
	}

	// Nothing serves now; systemd still holds the socket: a page request
	// waits in its queue for the next process.
	page := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(s.publicURL() + "/between")
		if err != nil {
			page <- err.Error()
			return
		}
		resp.Body.Close()
		page <- fmt.Sprint(resp.StatusCode)
	}()
	time.Sleep(500 * time.Millisecond)
	next, logs := s.startPassed(t, env, "public:admin")
	next.urls(t)
	if got := <-page; got != "200" {
		t.Errorf("a page request between two processes: %q, want it served by the next one", got)
	}
	if !strings.Contains(logs.String(), "sockets systemd passed") {
		t.Errorf("the log does not say where the listeners came from: %s", logs)
	}
}
