package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// get makes a GET with the given headers and returns status, headers and body.
func get(t *testing.T, url string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	return do(t, "GET", url, header, "")
}

func do(t *testing.T, method, url string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// stop ends a child with SIGINT and returns everything it wrote.
func (c *child) stop(t *testing.T) string {
	t.Helper()
	c.cmd.Process.Signal(os.Interrupt)
	c.cmd.Wait()
	rest, _ := io.ReadAll(c.stdout)
	return c.stderr.String() + string(rest)
}

func TestReadyzStaysUpWhileAWrongTokenPausesTheRelay(t *testing.T) {
	t.Parallel()
	s := startStack(t, "GLP_API_TOKEN=a-token-glp-winner-does-not-know")
	call(t, "POST", s.public+"/glp-s2s-conversion", "", `{"glpClickId":"paused-1","conversion_id":"P-1"}`)
	waitFor(t, func() bool {
		_, st, _ := call(t, "GET", s.admin+"/admin/api/stats", "", "")
		r, _ := st["relay"].(map[string]any)
		return r["mode"] == "paused"
	})
	code, ready, _ := call(t, "GET", s.admin+"/readyz", "", "")
	relay, _ := ready["relay"].(map[string]any)
	if code != 200 || ready["status"] != "ready" {
		t.Errorf("/readyz %d %v while the relay is paused: the site must stay in its load balancer", code, ready)
	}
	if relay["mode"] != "paused" || !strings.Contains(fmt.Sprint(relay["reason"]), "refused the credentials") {
		t.Errorf("/readyz does not say the relay is paused and why: %v", ready)
	}
	_, _, metrics := get(t, s.admin+"/metrics", nil)
	if !strings.Contains(metrics, `glp_sidecar_relay_state{mode="paused"} 1`) {
		t.Error(`metrics lack glp_sidecar_relay_state{mode="paused"} 1, what an alert on a paused relay reads`)
	}
	_, st, _ := call(t, "GET", s.admin+"/admin/api/stats", "", "")
	if st["states"].(map[string]any)["queued"] != 1.0 {
		t.Errorf("the event must wait, queued: %v", st)
	}
}

// echoUpstream is a fake GLP Winner that puts the Authorization header it
// receives into everything it answers: the body of a 201, the error of a
// 422, the Location of a redirect.
func echoUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token := strings.TrimPrefix(auth, "Bearer ")
		var body struct {
			ConversionID string `json:"conversion_id"`
			ClickID      string `json:"transaction_id"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(body.ConversionID, "ok-"):
			w.Header().Set("X-Echo", auth)
			w.WriteHeader(201)
			json.NewEncoder(w).Encode(map[string]any{"status": "ok", "conversion_id": token, "glp_click_id": body.ClickID, "echo": auth,
				"escaped": strings.ReplaceAll(token, "-", `\u002d`), "query": url.QueryEscape(auth)})
		case strings.HasPrefix(body.ConversionID, "rej-"):
			w.WriteHeader(422)
			fmt.Fprintf(w, `{"error":"refused for Authorization: %s"}`, auth)
		default:
			w.Header().Set("Location", "https://login.example/?auth="+url.QueryEscape(auth)+"&raw="+token)
			w.WriteHeader(302)
			fmt.Fprintf(w, `{"error":"moved, %s"}`, auth)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAnEchoingUpstreamLeavesTheTokenNowhere(t *testing.T) {
	t.Parallel()
	const token, ingest = "tok-ECHOED-9d81c2e4/+=", "ingest-token-0a1b2c3d4e5f"
	up := echoUpstream(t)
	db := filepath.Join(t.TempDir(), "outbox.db")
	c := start(t, serveEnv(t, "GLP_API_TOKEN="+token, "GLP_API_URL="+up.URL, "GLP_DB_PATH="+db, "GLP_LOG_LEVEL=debug",
		"GLP_INGEST_TOKEN="+ingest, "GLP_RETRY_INITIAL=50ms", "GLP_RETRY_MAX_INTERVAL=200ms"), "serve")
	u := c.urls(t)
	pub, adm := u[0], u[1]

	var seen bytes.Buffer
	see := func(what string, code int, h http.Header, body string) {
		fmt.Fprintf(&seen, "== %s %d\n", what, code)
		for k, v := range h {
			fmt.Fprintf(&seen, "%s: %s\n", k, strings.Join(v, ","))
		}
		seen.WriteString(body + "\n")
	}
	auth := map[string]string{"Authorization": "Bearer " + ingest, "Content-Type": "application/json"}
	for _, b := range []string{`{"glpClickId":"echo-1","conversion_id":"ok-1"}`, `{"glpClickId":"echo-2","conversion_id":"rej-1"}`} {
		code, h, body := do(t, "POST", pub+"/glp-s2s-conversion?wait=10s", auth, b)
		see("wait "+b, code, h, body)
	}
	code, h, body := do(t, "POST", pub+"/glp-s2s-conversion?wait=3s", auth, `{"glpClickId":"echo-3","conversion_id":"redirect-1"}`)
	see("wait redirect", code, h, body)
	var ids []string
	waitFor(t, func() bool {
		_, list, _ := call(t, "GET", adm+"/admin/api/events", "", "")
		events, _ := list["events"].([]any)
		ids = ids[:0]
		attempted := 0
		for _, e := range events {
			ids = append(ids, e.(map[string]any)["id"].(string))
			if e.(map[string]any)["attempts"].(float64) > 0 {
				attempted++
			}
		}
		return attempted == 3
	})
	for _, p := range []string{"/readyz", "/healthz", "/metrics", "/admin/", "/admin/api/stats", "/admin/api/events", "/admin/api/events?state=rejected"} {
		code, h, body := get(t, adm+p, nil)
		see(p, code, h, body)
	}
	for _, id := range ids {
		code, h, body := get(t, adm+"/admin/api/events/"+id, nil)
		see("event "+id, code, h, body)
		for _, args := range [][]string{{"show", id}, {"show", id, "--json"}} {
			out, _ := sidecarCmd(t, []string{"GLP_DB_PATH=" + db}, append([]string{"outbox"}, args...)...).CombinedOutput()
			see("outbox "+strings.Join(args, " "), 0, nil, string(out))
		}
	}
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		b, _ := os.ReadFile(f)
		see("raw "+filepath.Base(f), 0, nil, string(b))
	}
	see("logs", 0, nil, c.stop(t))
	for _, f := range []string{db, db + "-wal", db + "-shm"} { // after the last checkpoint too
		b, _ := os.ReadFile(f)
		see("raw after stop "+filepath.Base(f), 0, nil, string(b))
	}

	all := seen.String()
	for _, want := range []string{`"echo":"Bearer [redacted]"`, "refused for Authorization: Bearer [redacted]", "the upstream redirected"} {
		if !strings.Contains(all, want) {
			t.Errorf("the run did not show %q: the echoes never came back, so the test proves nothing", want)
		}
	}
	for _, form := range []string{token, url.QueryEscape(token), strings.ReplaceAll(token, "-", `\u002d`), "tok-ECHOED-9d81c2e4"} {
		if i := strings.Index(all, form); i >= 0 {
			t.Errorf("the token appears as %q: …%s…", form, all[max(0, i-300):min(len(all), i+100)])
		}
	}
	t.Logf("searched %d bytes of answers, pages, metrics, logs, CLI output and the raw database files", len(all))
}

func TestTheSessionCookieIsNotTheTokenAndOpensTheAPI(t *testing.T) {
	t.Parallel()
	const token = "admin-token-5e6f7a8b9c0d1e2f"
	var mu sync.Mutex
	var appCookies []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		appCookies = append(appCookies, strings.Join(r.Header.Values("Cookie"), " | "))
		mu.Unlock()
		fmt.Fprint(w, "app page")
	}))
	defer app.Close()
	s := startStack(t, "GLP_ADMIN_TOKEN="+token, "GLP_APP_URL="+app.URL, "GLP_TRUSTED_PROXIES=127.0.0.1/32")

	code, h, _ := get(t, s.admin+"/admin/?token="+token, nil)
	setCookie := h.Get("Set-Cookie")
	name, value, _ := strings.Cut(strings.Split(setCookie, ";")[0], "=")
	if code != 303 || name != "glp_admin" || value == "" {
		t.Fatalf("?token=: %d %q", code, setCookie)
	}
	if strings.Contains(setCookie, token) || strings.Contains(setCookie, url.QueryEscape(token)) {
		t.Errorf("the session cookie carries the admin token: %s", setCookie)
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/admin/", "Max-Age="} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("the session cookie lacks %s: %s", attr, setCookie)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("a cookie over plain http cannot be Secure (the browser would drop it): %s", setCookie)
	}
	_, h, _ = get(t, s.admin+"/admin/?token="+token, map[string]string{"X-Forwarded-Proto": "https"})
	if !strings.Contains(h.Get("Set-Cookie"), "Secure") {
		t.Errorf("behind a trusted TLS-terminating proxy the cookie must be Secure: %s", h.Get("Set-Cookie"))
	}

	session := map[string]string{"Cookie": "glp_admin=" + value}
	if code, _, body := get(t, s.admin+"/admin/api/stats", session); code != 200 {
		t.Errorf("the session cookie does not open the API: %d %s", code, body)
	}
	if code, _, _ := do(t, "POST", s.admin+"/admin/api/events/retry?state=rejected", map[string]string{"Cookie": "glp_admin=" + value, "X-GLP-Admin": "1"}, ""); code != 200 {
		t.Errorf("the session cookie does not let the dashboard requeue: %d", code)
	}
	forged := value[:len(value)-2] + "AA"
	if value[len(value)-2:] == "AA" {
		forged = value[:len(value)-2] + "BB"
	}
	for what, v := range map[string]string{"a forged signature": forged, "the token itself": token, "a later expiry": strings.Replace(value, "v1.1", "v1.2", 1)} {
		if code, _, _ := get(t, s.admin+"/admin/api/stats", map[string]string{"Cookie": "glp_admin=" + v}); code != 401 {
			t.Errorf("%s as the cookie: %d, want 401", what, code)
		}
	}

	// Cookies are not per port: the browser sends the admin cookie to the
	// public listener too, which must never pass it on to the app.
	code, _, body := get(t, s.public+"/admin/settings", map[string]string{"Cookie": "glp_admin=" + value + "; app_session=keep-me"})
	if code != 200 || body != "app page" {
		t.Fatalf("through the proxy: %d %q", code, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(appCookies) != 1 || strings.Contains(appCookies[0], "glp_admin") || !strings.Contains(appCookies[0], "app_session=keep-me") {
		t.Errorf("the app received cookies %q: want its own, without glp_admin", appCookies)
	}
}

func TestAForeignHostIsRefusedAndCrossOriginPostsAre403(t *testing.T) {
	t.Parallel()
	s := startStack(t, "GLP_ADMIN_HOSTS=sidecar.internal,Admin.Example.COM")
	s.convert(t, `{"email":"nobody@example.com"}`) // rejected by the mock: something to requeue
	port := s.admin[strings.LastIndex(s.admin, ":")+1:]
	for _, tc := range []struct {
		host string
		code int
	}{
		{"rebind.attacker.example:" + port, 421},
		{"rebind.attacker.example", 421},
		{"localhost.attacker.example:" + port, 421},
		{"127.0.0.1:" + port, 200},
		{"localhost:" + port, 200},
		{"[::1]:" + port, 200},
		{"sidecar.internal:" + port, 200},
		{"admin.example.com", 200},
	} {
		for _, p := range []string{"/admin/api/events", "/admin/"} {
			code, _, body := get(t, s.admin+p, map[string]string{"Host": tc.host})
			if code != tc.code {
				t.Errorf("GET %s with Host %s: %d, want %d", p, tc.host, code, tc.code)
			}
			if code != 200 && strings.Contains(body, "nobody@example.com") {
				t.Errorf("a refused Host still read the events: %s", body)
			}
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _, _ := get(t, s.admin+p, map[string]string{"Host": "prometheus.monitoring.svc:9090"}); code != 200 {
			t.Errorf("%s under any Host is for orchestrators and Prometheus: %d", p, code)
		}
	}

	retry := s.admin + "/admin/api/events/retry?state=rejected"
	json := "application/json"
	for _, tc := range []struct {
		name   string
		header map[string]string
		code   int
	}{
		{"a cross-origin fetch", map[string]string{"Origin": "https://evil.example", "Content-Type": json}, 403},
		{"another port of the same host", map[string]string{"Origin": "http://127.0.0.1:1", "Content-Type": json}, 403},
		{"a browser's cross-site request", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": json}, 403},
		{"a same-site page on another port", map[string]string{"Sec-Fetch-Site": "same-site", "X-GLP-Admin": "1"}, 403},
		{"a form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"a text/plain post", map[string]string{"Content-Type": "text/plain"}, 403},
		{"a post with no headers at all", map[string]string{}, 403},
		{"the dashboard's own call", map[string]string{"Origin": s.admin, "X-GLP-Admin": "1", "Sec-Fetch-Site": "same-origin"}, 200},
		{"a script with a JSON content type", map[string]string{"Content-Type": json}, 200},
	} {
		code, _, body := do(t, "POST", retry, tc.header, "")
		if code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.code)
		}
	}
}

func TestAShortAdminTokenFileExitsTwoWithoutShowingIt(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "admin-token")
	os.WriteFile(file, []byte("sh0rt-s3cret\n"), 0o600)
	code, stderr := runToExit(t, serveEnv(t, "GLP_ADMIN_TOKEN_FILE="+file), "serve")
	if code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, stderr)
	}
	out := strings.TrimSpace(stderr)
	if strings.Count(out, "\n") != 0 || !strings.Contains(out, "GLP_ADMIN_TOKEN_FILE") || !strings.Contains(out, "16") || strings.Contains(out, "sh0rt-s3cret") {
		t.Errorf("stderr %q: want one line naming GLP_ADMIN_TOKEN_FILE and the minimum, never the token", out)
	}
	os.WriteFile(file, []byte("long-enough-admin-token-0123\n"), 0o600)
	c := start(t, serveEnv(t, "GLP_ADMIN_TOKEN_FILE="+file), "serve")
	adm := c.urls(t)[1]
	if code, _, _ := get(t, adm+"/admin/api/stats", map[string]string{"Authorization": "Bearer long-enough-admin-token-0123"}); code != 200 {
		t.Errorf("the token from the file does not open the API: %d", code)
	}
	if code, _, _ := get(t, adm+"/admin/api/stats", nil); code != 401 {
		t.Errorf("without the token: %d, want 401", code)
	}
}

func TestRetentionLeavesNoErasedDataInTheFiles(t *testing.T) {
	t.Parallel()
	const email, agent, session = "erase-me-7f3q@example.com", "UniqueAgent/ZQX-9-retained", "sess-9c8b7a-retained"
	s := startStack(t, "GLP_RETENTION=4s")
	code, _, _ := get(t, s.public+"/landing?glp_click_id=ret-click-1&q=private", map[string]string{"User-Agent": agent, "Referer": "https://search.example/?q=weight+loss+drug"})
	if code != 404 {
		t.Fatalf("landing: %d", code)
	}
	s.convert(t, `{"glpClickId":"ret-click-1","email":"`+email+`","session_token":"`+session+`","conversion_id":"R-1"}`)
	raw := func() string {
		var b bytes.Buffer
		for _, f := range []string{s.db, s.db + "-wal", s.db + "-shm"} {
			data, _ := os.ReadFile(f)
			b.Write(data)
		}
		return b.String()
	}
	waitFor(t, func() bool { // the click log is written in batches, off the landing's path
		return strings.Contains(raw(), agent)
	})
	before := raw()
	for _, v := range []string{email, agent, session} {
		if !strings.Contains(before, v) {
			t.Fatalf("%s is not in the files before retention: the test would prove nothing", v)
		}
	}
	if strings.Contains(before, "weight+loss") {
		t.Error("the referrer's query string was stored")
	}
	waitFor(t, func() bool {
		_, list, _ := call(t, "GET", s.admin+"/admin/api/clicks", "", "")
		clicks, _ := list["clicks"].([]any)
		_, ev, _ := call(t, "GET", s.admin+"/admin/api/events?state=delivered", "", "")
		events, _ := ev["events"].([]any)
		return len(clicks) == 0 && len(events) == 1 && !strings.Contains(fmt.Sprint(events), email)
	})
	deadline := time.Now().Add(10 * time.Second)
	var left []string
	for {
		after := raw()
		left = left[:0]
		for _, v := range []string{email, agent, session} {
			if strings.Contains(after, v) {
				left = append(left, v)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("after retention, %q still readable in the database, WAL or SHM", left)
	}
}

// TestASlowBodyIsCutOff sends a conversion's body one byte every five
// seconds: the sidecar must end the request rather than hold the connection
// (and its file descriptor) for as long as the sender likes.
func TestASlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	c := start(t, serveEnv(t), "serve")
	pub := strings.TrimPrefix(c.urls(t)[0], "http://")
	conn, err := net.Dial("tcp", pub)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /glp-s2s-conversion HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{", pub)
	closed := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			closed <- "closed: " + err.Error()
			return
		}
		closed <- resp.Status
	}()
	sent := 1
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	limit := time.After(40 * time.Second)
	for {
		select {
		case what := <-closed:
			if sent >= 200 {
				t.Fatalf("the whole body was sent: %s", what)
			}
			t.Logf("cut off after %d bytes: %s", sent, what)
			return
		case <-tick.C:
			if _, err := conn.Write([]byte(" ")); err == nil {
				sent++
			}
		case <-limit:
			t.Fatalf("a body trickling one byte every 5s still holds its connection after 40s (%d bytes sent)", sent)
		}
	}
}

func TestStartUpWarnsOfACleartextUpstream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		warn bool
	}{
		{"http://192.0.2.10:8080", true},
		{"http://127.0.0.1:9", false},
		{"https://www.glpwinner.com", false},
	} {
		c := start(t, serveEnv(t, "GLP_API_URL="+tc.url), "serve")
		c.urls(t)
		logs := c.stop(t)
		if got := strings.Contains(logs, "GLP_API_URL") && strings.Contains(logs, "cleartext"); got != tc.warn {
			t.Errorf("GLP_API_URL=%s: warned %v, want %v; logs:\n%s", tc.url, got, tc.warn, logs)
		}
	}
}
