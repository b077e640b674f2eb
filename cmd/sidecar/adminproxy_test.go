package main

import (
	"bufio"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// oauth2proxyTools builds, from their own module (internal/tools/oauth2proxy,
// kept out of the sidecar's go.mod), a real oauth2-proxy and mockidp, the
// test identity provider mockoidc. Without the Go module proxy (and no
// module cache) the test skips, unless CI is set.
func oauth2proxyTools(t *testing.T) (proxy, idp string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds oauth2-proxy (minutes without a build cache): not with -short")
	}
	dir := t.TempDir()
	proxy, idp = filepath.Join(dir, "oauth2-proxy"), filepath.Join(dir, "mockidp")
	for _, b := range [][]string{{"-o", proxy, "github.com/oauth2-proxy/oauth2-proxy/v7"}, {"-o", idp, "./mockidp"}} {
		cmd := exec.Command("go", append([]string{"build"}, b...)...)
		cmd.Dir = filepath.Join("..", "..", "internal", "tools", "oauth2proxy")
		if out, err := cmd.CombinedOutput(); err != nil {
			if os.Getenv("CI") == "" {
				t.Skipf("cannot build %s (CI fails here): %v\n%s", b[2], err, out)
			}
			t.Fatalf("build %s: %v\n%s", b[2], err, out)
		}
	}
	return proxy, idp
}

// idp is mockidp's first line.
type idp struct {
	Issuer       string `json:"issuer"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Control      string `json:"control"`
}

func startIDP(t *testing.T, bin string) idp {
	t.Helper()
	cmd := exec.Command(bin)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	var cfg idp
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &cfg) != nil {
		t.Fatalf("mockidp: %v %s", err, line)
	}
	return cfg
}

// startOAuth2Proxy runs oauth2-proxy in front of the admin listener, as
// docs/admin-access.md configures it, and waits until it answers.
func startOAuth2Proxy(t *testing.T, bin string, id idp, upstream string) string {
	t.Helper()
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	secret := make([]byte, 32)
	rand.Read(secret)
	cmd := exec.Command(bin,
		"--http-address=127.0.0.1:"+port,
		"--upstream="+upstream+"/",
		"--provider=oidc",
		"--oidc-issuer-url="+id.Issuer,
		"--client-id="+id.ClientID,
		"--client-secret="+id.ClientSecret,
		"--redirect-url="+base+"/oauth2/callback",
		"--email-domain=clinic.example",
		"--cookie-secure=false", // the test is plain HTTP on loopback; production: true
		"--cookie-secret="+base64.RawURLEncoding.EncodeToString(secret),
		"--pass-user-headers=true",
		"--skip-provider-button=true",
		"--code-challenge-method=S256",
	)
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("oauth2-proxy's log:\n%s", log.String())
		}
	})
	waitFor(t, func() bool {
		r, err := http.Get(base + "/ping")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	})
	return base
}

// operator is a browser session of one user through the proxy.
type operator struct {
	t      *testing.T
	client *http.Client
	base   string
}

// login signs in at the identity provider as email and returns the session.
func login(t *testing.T, id idp, proxy, email string) operator {
	t.Helper()
	code, _, _ := do(t, "POST", id.Control+"/queue?email="+email+"&sub="+strings.Split(email, "@")[0], nil, "")
	if code != 204 {
		t.Fatalf("queue %s: %d", email, code)
	}
	jar, _ := cookiejar.New(nil)
	op := operator{t: t, client: &http.Client{Jar: jar, Timeout: 20 * time.Second}, base: proxy}
	status, body := op.do("GET", "/oauth2/start?rd=%2Fadmin%2F")
	if status != 200 || !strings.Contains(body, "glp-sidecar") {
		t.Fatalf("login as %s ended with %d: %.300s", email, status, body)
	}
	return op
}

func (o operator) do(method, path string) (int, string) {
	o.t.Helper()
	req, _ := http.NewRequest(method, o.base+path, nil)
	req.Header.Set("X-GLP-Admin", "1")
	resp, err := o.client.Do(req)
	if err != nil {
		o.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTwoProxyNamedUsersAreInTheAuditWithNothingPersonalAndATamperedLineIsCaught(t *testing.T) {
	t.Parallel()
	proxyBin, idpBin := oauth2proxyTools(t)
	const email, ip = "audited.patient@example.com", "203.0.113.51"
	s := startStack(t, "GLP_ADMIN_AUTH=proxy", "GLP_TRUSTED_PROXIES=127.0.0.1/32")
	id := s.convert(t, `{"glpClickId":"audit-click-1","email":"`+email+`","ip":"`+ip+`","conversion_id":"A-1"}`)

	// Straight to the admin listener without a user: refused.
	if code, out, _ := call(t, "GET", s.admin+"/admin/api/events", "", ""); code != 401 || out["error"] == nil {
		t.Errorf("no proxy user: %d %v", code, out)
	}

	provider := startIDP(t, idpBin)
	proxy := startOAuth2Proxy(t, proxyBin, provider, s.admin)
	alice := login(t, provider, proxy, "alice@clinic.example")
	bob := login(t, provider, proxy, "bob@clinic.example")
	for _, a := range []struct {
		op           operator
		method, path string
		want         int
	}{
		{alice, "GET", "/admin/api/events?limit=10", 200},
		{alice, "GET", "/admin/api/events/" + id, 200},
		{bob, "GET", "/admin/api/report/conversions.csv", 200},
		{bob, "POST", "/admin/api/events/" + id + "/retry", 409}, // delivered: not retryable, and recorded so
	} {
		if code, body := a.op.do(a.method, a.path); code != a.want {
			t.Errorf("%s %s: %d %.200s", a.method, a.path, code, body)
		}
	}
	code, body := alice.do("GET", "/admin/api/audit")
	if code != 200 {
		t.Fatalf("audit: %d %s", code, body)
	}
	var audit struct{ Lines []map[string]any }
	json.Unmarshal([]byte(body), &audit)
	var got []string
	for _, l := range audit.Lines {
		got = append(got, fmt.Sprintf("%s %s %v", l["user"], l["action"], l["status"]))
	}
	want := []string{"alice@clinic.example events.list 200", "alice@clinic.example event.read 200", "bob@clinic.example report.csv 200", "bob@clinic.example event.retry 409"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(body, id) {
		t.Errorf("the audit does not name the event it touched: %s", body)
	}
	for _, v := range []string{email, ip, "audit-click-1"} {
		if strings.Contains(body, v) {
			t.Errorf("the audit holds %q: %s", v, body)
		}
	}

	// sidecar audit lists them and verifies the chain; an edited line is caught.
	env := serveEnv(t, "GLP_DB_PATH="+s.db)
	if out, err := sidecarCmd(t, env, "audit").CombinedOutput(); err != nil || !strings.Contains(string(out), "bob@clinic.example") {
		t.Errorf("sidecar audit: %v\n%s", err, out)
	}
	if out, err := sidecarCmd(t, env, "audit", "--verify").CombinedOutput(); err != nil || !strings.Contains(string(out), "intact: 4 lines") {
		t.Errorf("sidecar audit --verify on an intact log: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite3", "file:"+s.db+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET user = 'mallory@clinic.example' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	out, err := sidecarCmd(t, env, "audit", "--verify").CombinedOutput()
	if exitStatus(err) != 1 || !strings.Contains(string(out), "line 3") {
		t.Errorf("sidecar audit --verify on an edited line: exit %d\n%s", exitStatus(err), out)
	}
	if _, err := db.Exec(`UPDATE audit SET user = 'bob@clinic.example' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM audit WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	out, err = sidecarCmd(t, env, "audit", "--verify").CombinedOutput()
	if exitStatus(err) != 1 || !strings.Contains(string(out), "line 2") {
		t.Errorf("sidecar audit --verify after a deleted line: exit %d\n%s", exitStatus(err), out)
	}
}
