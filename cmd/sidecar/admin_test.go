package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// stack is a real mock (in this process) and a real sidecar serve in front
// of nothing.
type stack struct {
	mock, public, admin, db string
	sidecar                 *child
}

// urls waits for the child's first line and returns every URL in it.
func (c *child) urls(t *testing.T) []string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		s, _ := c.stdout.ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		return regexp.MustCompile(`http://[0-9.:]+`).FindAllString(s, -1)
	case <-time.After(20 * time.Second):
		t.Fatalf("nothing printed; stderr: %s", c.stderr)
	}
	return nil
}

func startStack(t *testing.T, env ...string) stack {
	t.Helper()
	s := stack{mock: serveMockInProcess(t), db: filepath.Join(t.TempDir(), "outbox.db")}
	s.sidecar = start(t, serveEnv(t, append([]string{"GLP_API_URL=" + s.mock, "GLP_DB_PATH=" + s.db,
		"GLP_RETRY_INITIAL=50ms", "GLP_RETRY_MAX_INTERVAL=200ms"}, env...)...), "serve")
	u := s.sidecar.urls(t)
	if len(u) != 2 {
		t.Fatalf("serve printed %v", u)
	}
	s.public, s.admin = u[0], u[1]
	return s
}

// call makes a request and decodes a JSON answer.
func call(t *testing.T, method, url, bearer, body string) (int, map[string]any, http.Header) {
	t.Helper()
	headers := map[string]string{}
	if body != "" || method == http.MethodPost {
		headers["Content-Type"] = "application/json" // the admin's POSTs must not look like a form
	}
	if bearer != "" {
		headers["Authorization"] = "Bearer " + bearer
	}
	return send(t, method, url, headers, body)
}

// convert posts a conversion and waits for the upstream's answer.
func (s stack) convert(t *testing.T, body string) string {
	t.Helper()
	_, out, _ := call(t, "POST", s.public+"/glp-s2s-conversion?wait=10s", testIngestToken, body)
	id, _ := out["event_id"].(string)
	if id == "" {
		t.Fatalf("conversion %s: %v", body, out)
	}
	return id
}

func TestTheAdminAPIAnswersWhereEveryConversionIs(t *testing.T) {
	t.Parallel()
	s := startStackInProcess(t)
	delivered := s.convert(t, `{"glpClickId":"adm-1","conversion_id":"A-1"}`)
	rejected := s.convert(t, `{"email":"nobody@example.com"}`)

	code, st, _ := call(t, "GET", s.admin+"/admin/api/stats", "", "")
	states, _ := st["states"].(map[string]any)
	if code != 200 || states["delivered"] != 1.0 || states["rejected"] != 1.0 || st["relay"].(map[string]any)["mode"] != "running" {
		t.Fatalf("stats %d %v", code, st)
	}
	code, list, _ := call(t, "GET", s.admin+"/admin/api/events?state=rejected", "", "")
	events, _ := list["events"].([]any)
	if code != 200 || len(events) != 1 || events[0].(map[string]any)["id"] != rejected {
		t.Fatalf("rejected events %d %v", code, list)
	}
	code, page, _ := call(t, "GET", s.admin+"/admin/api/events?limit=1", "", "")
	if events, _ := page["events"].([]any); code != 200 || len(events) != 1 || page["next_before"] == "" {
		t.Fatalf("first page %v", page)
	}
	_, page2, _ := call(t, "GET", s.admin+"/admin/api/events?limit=1&before="+page["next_before"].(string), "", "")
	if events, _ := page2["events"].([]any); len(events) != 1 || events[0].(map[string]any)["id"] != delivered {
		t.Fatalf("second page %v", page2)
	}
	code, one, _ := call(t, "GET", s.admin+"/admin/api/events/"+delivered, "", "")
	attempts, _ := one["attempts"].([]any)
	if code != 200 || len(attempts) != 1 || attempts[0].(map[string]any)["status"] != 201.0 || !strings.Contains(attempts[0].(map[string]any)["body"].(string), "Conversion recorded") {
		t.Fatalf("one event %d %v", code, one)
	}
	for _, bad := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/admin/api/events/no-such-event", 404},
		{"GET", "/admin/api/events?state=lost", 400},
		{"GET", "/admin/api/events?limit=0", 400},
		{"POST", "/admin/api/events/" + delivered + "/retry", 409},
		{"POST", "/admin/api/events/retry?state=delivered", 400},
	} {
		if code, body, _ := call(t, bad.method, s.admin+bad.path, "", ""); code != bad.code || body["error"] == nil {
			t.Errorf("%s %s: %d %v, want %d with an error", bad.method, bad.path, code, body, bad.code)
		}
	}
	code, r, _ := call(t, "POST", s.admin+"/admin/api/events/"+rejected+"/retry", "", "")
	if code != 200 || r["requeued"] != 1.0 {
		t.Fatalf("retry %d %v", code, r)
	}
	waitFor(t, func() bool {
		_, one, _ := call(t, "GET", s.admin+"/admin/api/events/"+rejected, "", "")
		return one["event"].(map[string]any)["attempts"] == 2.0 && one["event"].(map[string]any)["state"] == "rejected"
	})
	if code, r, _ := call(t, "POST", s.admin+"/admin/api/events/retry?state=rejected", "", ""); code != 200 || r["requeued"] != 1.0 {
		t.Errorf("retry all rejected: %d %v", code, r)
	}
	if code, _, _ := call(t, "GET", s.admin+"/readyz", "", ""); code != 200 {
		t.Errorf("readyz %d", code)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTheAdminTokenGuardsTheAPIAndTheDashboard(t *testing.T) {
	t.Parallel()
	s := startStack(t, "GLP_ADMIN_TOKEN=admin-secret-0123456789")
	for _, path := range []string{"/admin/", "/admin/api/stats", "/admin/api/events"} {
		if code, _, _ := call(t, "GET", s.admin+path, "", ""); code != 401 {
			t.Errorf("%s without the token: %d", path, code)
		}
		if code, _, _ := call(t, "GET", s.admin+path, "wrong", ""); code != 401 {
			t.Errorf("%s with a wrong token: %d", path, code)
		}
		if code, _, _ := call(t, "GET", s.admin+path, "admin-secret-0123456789", ""); code != 200 {
			t.Errorf("%s with the token: %d", path, code)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _, _ := call(t, "GET", s.admin+path, "", ""); code != 200 {
			t.Errorf("%s is for orchestrators and needs no token: %d", path, code)
		}
	}
	code, _, h := call(t, "GET", s.admin+"/admin/?token=admin-secret-0123456789", "", "")
	cookie := h.Get("Set-Cookie")
	if code != 303 || h.Get("Location") != "/admin/" || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("?token=: %d %v", code, h)
	}
	req, _ := http.NewRequest("GET", s.admin+"/admin/api/stats", nil)
	req.Header.Set("Cookie", strings.Split(cookie, ";")[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("with the cookie: %v %v", resp, err)
	}
}

func TestMetricsUseBoundedLabels(t *testing.T) {
	t.Parallel()
	s := startStackInProcess(t)
	s.convert(t, `{"glpClickId":"metric-click-1","email":"m@example.com"}`)
	call(t, "POST", s.public+"/glp-s2s-conversion", "", `{"glpClickId":"bad id"}`)
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{
		`glp_sidecar_conversions_received_total{endpoint="/glp-s2s-conversion",outcome="ok"} 1`,
		`glp_sidecar_conversions_received_total{endpoint="/glp-s2s-conversion",outcome="invalid"} 1`,
		`glp_sidecar_deliveries_total{outcome="delivered",status_class="2xx"} 1`,
		`glp_sidecar_events{state="delivered"} 1`,
		`glp_sidecar_relay_state{mode="running"} 1`,
		`glp_sidecar_oldest_queued_age_seconds 0`,
		`glp_sidecar_delivery_duration_seconds_bucket`,
		`glp_sidecar_outbox_commit_duration_seconds_bucket{le="0.00025"}`,
		`glp_sidecar_outbox_commit_writes_bucket{le="1"}`,
		`glp_sidecar_outbox_burst 0`,
		`glp_sidecar_http_request_duration_seconds_bucket{code="201",listener="public",method="POST",route="/glp-s2s-conversion"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The outbox reports its commits: at least the conversion and its delivery.
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "glp_sidecar_outbox_commit_writes_sum "); ok {
			if n, err := strconv.ParseFloat(v, 64); err != nil || n < 2 {
				t.Errorf("the outbox's commits carried %s writes; want 2 at least (the conversion, its claim, its attempt)", v)
			}
		}
	}
	for _, never := range []string{"metric-click-1", "m@example.com", "bad id"} {
		if strings.Contains(text, never) {
			t.Errorf("metrics carry %q as a label", never)
		}
	}
}

func TestTheOutboxCommandsWorkWhileServeRuns(t *testing.T) {
	t.Parallel()
	s := startStackInProcess(t)
	delivered := s.convert(t, `{"glpClickId":"cli-1","email":"pat@example.com","conversion_id":"C-1"}`)
	rejected := s.convert(t, `{"email":"nobody@example.com"}`)
	env := []string{"GLP_DB_PATH=" + s.db}
	run := func(args ...string) (string, int) {
		cmd := sidecarCmd(t, env, append([]string{"outbox"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		code := exitStatus(cmd.Run())
		return out.String() + errb.String(), code
	}
	if out, code := run("stats"); code != 0 || !regexp.MustCompile(`delivered\s+1`).MatchString(out) || !regexp.MustCompile(`rejected\s+1`).MatchString(out) {
		t.Errorf("stats (%d):\n%s", code, out)
	}
	out, code := run("list", "--state", "rejected", "--json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0]["id"] != rejected {
		t.Errorf("list --json (%d): %s", code, out)
	}
	if out, code := run("list"); code != 0 || !strings.Contains(out, "p•••@example.com") || strings.Contains(out, "pat@example.com") {
		t.Errorf("list masks emails (%d):\n%s", code, out)
	}
	if out, code := run("show", delivered); code != 0 || !strings.Contains(out, "cli-1") || !strings.Contains(out, "201") || !strings.Contains(out, "Conversion recorded") {
		t.Errorf("show (%d):\n%s", code, out)
	}
	if out, code := run("retry", rejected); code != 0 || !strings.Contains(out, "requeued 1") {
		t.Errorf("retry (%d): %s", code, out)
	}
	waitFor(t, func() bool { out, _ := run("show", rejected, "--json"); return strings.Contains(out, `"attempts": 2`) })
	if out, code := run("retry", "--state", "rejected"); code != 0 || !strings.Contains(out, "requeued 1") {
		t.Errorf("retry --state (%d): %s", code, out)
	}
	if out, code := run("retry", delivered); code != 1 || !strings.Contains(out, "only rejected, unconfirmed and dead") {
		t.Errorf("retry of a delivered event (%d): %s", code, out)
	}
	if out, code := run("purge", "--older-than", "0s"); code != 0 || !strings.Contains(out, "purged 1") {
		t.Errorf("purge (%d): %s", code, out)
	}
	if out, code := run("frobnicate"); code != 2 {
		t.Errorf("an unknown command (%d): %s", code, out)
	}
	cmd := sidecarCmd(t, []string{"GLP_DB_PATH=" + filepath.Join(t.TempDir(), "none.db")}, "outbox", "stats")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if code := exitStatus(cmd.Run()); code != 1 || !strings.Contains(errb.String(), "no outbox at") {
		t.Errorf("a missing file (%d): %s", code, errb.String())
	}
}

func TestHealthcheckAsksTheAdminListener(t *testing.T) {
	t.Parallel()
	s := startStackInProcess(t)
	addr := strings.TrimPrefix(s.admin, "http://")
	if code := exitStatus(sidecarCmd(t, []string{"GLP_ADMIN_ADDR=" + addr}, "healthcheck").Run()); code != 0 {
		t.Errorf("healthy: exit %d", code)
	}
	if code := exitStatus(sidecarCmd(t, []string{"GLP_ADMIN_ADDR=127.0.0.1:1"}, "healthcheck").Run()); code != 1 {
		t.Errorf("nothing listening: exit %d", code)
	}
}

// startDemo runs sidecar demo and returns the three URLs it prints.
func startDemo(t *testing.T) (landing, dashboard, mockPage string) {
	t.Helper()
	c := start(t, []string{"GLP_LISTEN_ADDR=127.0.0.1:0", "GLP_ADMIN_ADDR=127.0.0.1:0", "GLP_MOCK_LISTEN_ADDR=127.0.0.1:0",
		"GLP_DB_PATH=" + filepath.Join(t.TempDir(), "demo.db"), "GLP_INGEST_TOKEN=" + testIngestToken}, "demo")
	var urls []string
	for len(urls) < 3 {
		line, err := c.stdout.ReadString('\n')
		if err != nil {
			t.Fatalf("demo printed too little; stderr: %s", c.stderr)
		}
		urls = append(urls, regexp.MustCompile(`http://[^\s]+`).FindAllString(line, -1)...)
	}
	return urls[0], urls[1], urls[2]
}

func TestTheDemoRunsOnEmbeddedDefaults(t *testing.T) {
	t.Parallel()
	landing, dashboard, mockPage := startDemo(t)
	resp, err := http.Get(landing)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies() // _glp_cid and its signed companion, _glp_cid_sig
	if resp.StatusCode != 200 || len(cookies) != 2 || cookies[0].Name != "_glp_cid" || !strings.HasPrefix(cookies[0].Value, "demo-") || cookies[1].Name != "_glp_cid_sig" {
		t.Fatalf("landing %s: %d %v", landing, resp.StatusCode, cookies)
	}
	public := landing[:strings.Index(landing, "/?")]
	req, _ := newJSONRequest(public+"/api/glp-s2s-conversion", "", `{"email":"pat@example.com"}`)
	req.AddCookie(cookies[0])
	req.AddCookie(cookies[1])
	resp, err = httpClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("demo sign-up: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, u := range []string{dashboard, mockPage} {
		if resp, err := http.Get(u); err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", u, resp, err)
		} else {
			resp.Body.Close()
		}
	}
	awaitConversion(t, strings.TrimSuffix(mockPage, "/_mock/"), cookies[0].Value)
}

func TestTheDashboardShowsEventsAndRetriesThem(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	s := startStackInProcess(t)
	s.convert(t, `{"glpClickId":"dash-ok","conversion_id":"D-1"}`)
	call(t, "POST", s.mock+"/_mock/faults", "", `{"status":400}`) // the next call is refused for good
	rejected := s.convert(t, `{"glpClickId":"dash-refused","conversion_id":"D-2"}`)

	tab, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	row := `tr[data-id="` + rejected + `"]`
	err := chromedp.Do(tab,
		chromedp.Navigate(s.admin+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS(`.b-delivered`)),
		chromedp.WaitVisible(chromedp.CSS(row+` .b-rejected`)),
		chromedp.Click(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(`#retry-one:not([hidden])`)),
	)
	if err != nil {
		html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.OuterHTML(chromedp.CSS(`main`)))
		t.Fatalf("%v\n%s", err, html)
	}
	shot, _ := chromedp.Run(tab, chromedp.FullScreenshot(100))
	os.WriteFile(filepath.Join(os.TempDir(), "glp-dashboard.png"), shot, 0o644)
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#retry-one`)), chromedp.WaitVisible(chromedp.CSS(row+` .b-delivered`))); err != nil {
		html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.OuterHTML(`main`))
		t.Fatalf("after retry: %v\n%s", err, html)
	}
	text, _ := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#detail`)))
	if !strings.Contains(strings.ToLower(text), "attempts (2)") || !strings.Contains(text, "dash-refused") {
		t.Errorf("detail after retry: %q", text)
	}
	awaitConversion(t, s.mock, "dash-refused")
}

// The dashboard asks for the stats every 2 s, and not at all while its tab is
// hidden: counting the states of a large outbox costs the sidecar CPU. The
// test counts the page's own calls and hides the tab as the browser does, by
// document.hidden and a visibilitychange event.
func TestTheDashboardStopsAskingWhileItsTabIsHidden(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	s := startStackInProcess(t)
	tab, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	// The count starts in the same turn of the page's event loop that hides
	// it, so that no poll can come between the two.
	const countThenHide = `window.asked = 0;
		const fetched = window.fetch;
		window.fetch = (path, opts) => { if (String(path).includes("/admin/api/stats")) window.asked++; return fetched(path, opts); };
		Object.defineProperty(document, "hidden", {configurable: true, get: () => window.hide});
		window.hide = true; document.dispatchEvent(new Event("visibilitychange"));`
	const show = `window.hide = false; document.dispatchEvent(new Event("visibilitychange"))`
	asked := func() int {
		n, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.asked`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := chromedp.Do(tab, chromedp.Navigate(s.admin+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`.tile`)),
		chromedp.Evaluate[chromedp.Void](countThenHide)); err != nil {
		t.Fatal(err)
	}
	elapse(t, tab, 5000) // the page's 5 s, on its virtual clock
	hidden := asked()
	if hidden != 0 {
		t.Errorf("a hidden tab asked for the stats %d times in 5 s", hidden)
	}
	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](show)); err != nil {
		t.Fatal(err)
	}
	elapse(t, tab, 5000)
	if n := asked() - hidden; n < 2 || n > 4 {
		t.Errorf("a visible tab asked for the stats %d times in 5 s, want 2 to 4: once when shown, then every 2 s", n)
	}
}

func TestBenchPrintsTheTable(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "bench's load")
	cmd := sidecarCmd(t, nil, "bench", "--connections", "4", "--duration", "1s", "--rounds", "2", "--backlog", "300")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if code := exitStatus(cmd.Run()); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	table := out.String()
	for _, want := range []string{"accept, 4 connections", "requests/s", "sidecar/ceiling", "delivered/s", "start to ready",
		"backlog of 300 events", "drain rate, last 10%"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	if regexp.MustCompile(`ratio by round \(median above\)\s+\d\.\d\d \d\.\d\d\s`).FindString(table) == "" {
		t.Errorf("the table lacks the two rounds' ratios:\n%s", table)
	}
	if regexp.MustCompile(`errors\s+none\s+none`).FindString(table) == "" {
		t.Errorf("errors under a light load:\n%s", table)
	}
}
