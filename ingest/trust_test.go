package ingest_test

import (
	"github.com/glpwinner/glp-sidecar/internal/logtest"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/glpwinner/glp-sidecar/ingest"
)

func TestABrowserCallsKeyTouchesNeitherAServerCallsNorAnotherBrowsers(t *testing.T) {
	e := setup(t, server(ingest.Options{}))
	browser := e.do(t, request{body: `{"glpClickId":"planted","conversion_id":"ORDER-9"}`})
	if browser.status != 202 {
		t.Fatalf("browser call: %d %v", browser.status, browser.body)
	}
	srv := e.do(t, request{body: `{"glpClickId":"real","conversion_id":"ORDER-9"}`, server: true})
	if srv.status != 202 || srv.body["event_id"] == browser.body["event_id"] {
		t.Fatalf("the server call ORDER-9 after a browser call ORDER-9: %d %v", srv.status, srv.body)
	}
	if ev := e.stored(t, srv); ev.Conversion.ClickID != "real" {
		t.Errorf("the server call stored click %q", ev.Conversion.ClickID)
	}
	// A browser call learns nothing of the server's key, nor of its own:
	// a repeated browser key is answered as new (202, an id of its own).
	again := e.do(t, request{body: `{"glpClickId":"planted","conversion_id":"ORDER-9"}`})
	if again.status != 202 || again.body["event_id"] == browser.body["event_id"] || again.body["event_id"] == srv.body["event_id"] {
		t.Errorf("the browser call again: %d %v, want 202 with an event id of its own", again.status, again.body)
	}
	srvAgain := e.do(t, request{body: `{"glpClickId":"real","conversion_id":"ORDER-9"}`, server: true})
	if srvAgain.status != 200 || srvAgain.body["event_id"] != srv.body["event_id"] {
		t.Errorf("the server call again: %d %v, want the server's first event", srvAgain.status, srvAgain.body)
	}
	// Nor can it touch another browser's: the visitor whose page posts
	// ORDER-9 with their own click is not a duplicate of the stranger's.
	visitor := e.do(t, request{body: `{"conversion_id":"ORDER-9"}`, cookies: map[string]string{"_glp_cid": "visitor-click"}})
	if visitor.status != 202 {
		t.Errorf("the visitor's browser call ORDER-9 after a stranger's: %d %v, want 202", visitor.status, visitor.body)
	}
	if again := e.do(t, request{body: `{"conversion_id":"ORDER-9"}`, cookies: map[string]string{"_glp_cid": "visitor-click"}}); again.status != 202 || again.body["event_id"] == visitor.body["event_id"] {
		t.Errorf("the visitor's double submit: %d %v, want 202 with an event id of its own", again.status, again.body)
	}
}

func TestABrowserCallFromAnotherAddressOrModeLearnsNothingOfAVisitorsConversion(t *testing.T) {
	e := setup(t, ingest.Options{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	body := `{"email":"victim@example.com","conversion_id":"ORDER-1007"}`
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	victim := e.do(t, request{body: body, headers: from("198.51.100.7")})
	if victim.status != 202 {
		t.Fatalf("the visitor's call: %d %v", victim.status, victim.body)
	}
	stranger := e.do(t, request{body: body, headers: from("203.0.113.9")})
	if stranger.status != 202 || stranger.body["event_id"] == victim.body["event_id"] {
		t.Errorf("a stranger's same call from another address: %d %v, want 202 with an event of its own", stranger.status, stranger.body)
	}
	// Nor can a stranger's test call make a visitor's live one a duplicate.
	test := e.do(t, request{body: `{"email":"next@example.com","conversion_id":"ORDER-1008","testMode":true}`, headers: from("198.51.100.8")})
	live := e.do(t, request{body: `{"email":"next@example.com","conversion_id":"ORDER-1008"}`, headers: from("198.51.100.8")})
	if test.status != 202 || live.status != 202 {
		t.Errorf("a test call then the live one with the same email and id: %d then %d, want 202 both", test.status, live.status)
	}
	if again := e.do(t, request{body: body, headers: from("198.51.100.7")}); again.status != 202 || again.body["event_id"] == victim.body["event_id"] {
		t.Errorf("the visitor's double submit: %d %v, want 202 with an event id of its own", again.status, again.body)
	}
}

// logBuffer is a slog handler's output that tests can read while the
// handler writes.
type logBuffer = logtest.Buffer

type refusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) Refused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[reason]++
}

func TestEveryRefusalIsCountedAndLoggedWithTheFixAndNothingPersonal(t *testing.T) {
	var logs logBuffer
	counts := &refusals{n: map[string]int{}}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	e := setup(t, server(ingest.Options{Refusals: counts, RateLimit: 1, RateBurst: 1, Trusted: trusted,
		AllowedOrigins: []string{"https://shop.example"}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}))
	personal := `{"email":"patient.secret@example.com","glpClickId":"click-secret","ip":"198.51.100.77","bad":1,"testMode":"x"}`
	tests := []struct {
		reason, fix string
		req         request
		status      int
	}{
		{ingest.ReasonInvalid, "details", request{body: personal}, 400},
		{ingest.ReasonUnauthorized, "GLP_INGEST_TOKEN", request{body: personal, headers: map[string]string{"Authorization": "Bearer wrong"}}, 401},
		{ingest.ReasonOrigin, "GLP_ALLOWED_ORIGINS", request{body: personal, headers: map[string]string{"Origin": "https://evil.example"}}, 403},
		{ingest.ReasonTooLarge, "bytes", request{body: `{"email":"patient.secret@example.com","x":"` + strings.Repeat("a", 17<<10) + `"}`}, 413},
		{ingest.ReasonType, "application/json", request{body: personal, contentType: "text/plain"}, 415},
		{ingest.ReasonNothing, "glpClickId", request{body: `{"conversion_id":"o-secret"}`}, 422},
	}
	for _, tt := range tests {
		before := logs.String()
		r := e.do(t, tt.req)
		if r.status != tt.status {
			t.Fatalf("%s: %d %v", tt.reason, r.status, r.body)
		}
		line := strings.TrimPrefix(logs.String(), before)
		if !strings.Contains(line, `"reason":"`+tt.reason+`"`) || !strings.Contains(line, tt.fix) || strings.Count(line, "\n") != 1 {
			t.Errorf("%s: log %q, want one line with the reason and %q", tt.reason, line, tt.fix)
		}
	}
	xff := map[string]string{"X-Forwarded-For": "203.0.113.40"}
	e.do(t, request{body: `{"glpClickId":"x"}`, headers: xff})
	if r := e.do(t, request{body: `{"glpClickId":"x"}`, headers: xff}); r.status != 429 {
		t.Fatalf("over the limit: %d", r.status)
	}
	if !strings.Contains(logs.String(), `"reason":"rate_limited"`) || !strings.Contains(logs.String(), "GLP_RATE_LIMIT") {
		t.Errorf("no log line for the 429: %s", logs.String())
	}
	for _, secret := range []string{"patient", "click-secret", "198.51.100", "203.0.113.40", "o-secret", "wrong"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q: %s", secret, logs.String())
		}
	}
	// A flood of one refusal writes a bounded handful of lines, and counts
	// every request.
	before := strings.Count(logs.String(), `"reason":"unsupported_type"`)
	for i := 0; i < 50; i++ {
		e.do(t, request{body: `{}`, contentType: "text/plain"})
	}
	if n := strings.Count(logs.String(), `"reason":"unsupported_type"`) - before; n > 5 {
		t.Errorf("50 refusals wrote %d lines", n)
	}
	counts.mu.Lock()
	defer counts.mu.Unlock()
	want := map[string]int{"invalid_body": 1, "unauthorized": 1, "forbidden_origin": 1, "too_large": 1, "unsupported_type": 51, "nothing_to_attribute": 1, "rate_limited": 1}
	for k, v := range want {
		if counts.n[k] != v {
			t.Errorf("refused %v, want %v", counts.n, want)
			break
		}
	}
}

func TestTheOriginRefusalNamesTrustedProxiesWhenAnUntrustedProxyForwardedTheSitesHost(t *testing.T) {
	e := setup(t, ingest.Options{AllowedOrigins: []string{"https://other.example"}})
	// A Next.js rewrite: the browser's page is https://shop.example, the
	// rewrite (not in GLP_TRUSTED_PROXIES) forwards its host.
	r := e.do(t, request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Origin": "https://shop.example", "X-Forwarded-Host": "shop.example"}})
	msg, _ := r.body["error"].(string)
	if r.status != 403 || !strings.Contains(msg, "GLP_TRUSTED_PROXIES") || strings.Contains(msg, "GLP_ALLOWED_ORIGINS") {
		t.Errorf("%d %q: want 403 naming GLP_TRUSTED_PROXIES", r.status, msg)
	}
	r = e.do(t, request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Origin": "https://evil.example"}})
	if msg, _ := r.body["error"].(string); r.status != 403 || !strings.Contains(msg, "GLP_ALLOWED_ORIGINS") {
		t.Errorf("%d %q: want 403 naming GLP_ALLOWED_ORIGINS", r.status, msg)
	}
	if n := e.count(t); n != 0 {
		t.Errorf("%d stored", n)
	}
}

func TestAServerCallsPrivateIPIsDroppedWithAWarningLoggedOncePerReason(t *testing.T) {
	var logs logBuffer
	e := setup(t, server(ingest.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}))
	for i := 0; i < 20; i++ {
		if r := e.do(t, request{body: `{"glpClickId":"x","ip":"10.1.2.3"}`, server: true}); r.status != 202 {
			t.Fatalf("%d %v", r.status, r.body)
		}
	}
	e.do(t, request{body: `{"glpClickId":"x","ip":"127.0.0.1"}`, server: true})
	out := logs.String()
	if n := strings.Count(out, `"kind":"private"`); n < 1 || n > 5 {
		t.Errorf("%d warnings for 20 private addresses, want 1 to 5: %s", n, out)
	}
	if !strings.Contains(out, `"kind":"loopback"`) {
		t.Errorf("no warning for a loopback address: %s", out)
	}
	if strings.Contains(out, "10.1.2.3") {
		t.Errorf("the warning holds the address: %s", out)
	}
}

func TestTheRateLimitKeysAnIPv6ClientPerSlash64AndSparesServerCalls(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	e := setup(t, server(ingest.Options{RateLimit: 0.001, RateBurst: 3, Trusted: trusted}))
	from := func(ip string, srv bool) int {
		return e.do(t, request{body: `{"glpClickId":"x"}`, headers: map[string]string{"X-Forwarded-For": ip}, server: srv}).status
	}
	for i := 1; i <= 3; i++ {
		if s := from("2001:db8:1:2::"+string(rune('0'+i)), false); s != 202 {
			t.Fatalf("within the burst: %d", s)
		}
	}
	if s := from("2001:db8:1:2:ffff::9", false); s != 429 {
		t.Errorf("another address of the same /64: %d, want 429", s)
	}
	if s := from("2001:db8:1:3::1", false); s != 202 {
		t.Errorf("another /64: %d, want 202", s)
	}
	for i := 0; i < 5; i++ {
		if s := from("2001:db8:1:2::1", true); s != 202 {
			t.Errorf("a server call for a limited address: %d, want 202", s)
		}
	}
}

type received struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *received) Received(_, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[outcome]++
}

func TestEveryAnswerIsCountedUnderTheWordOfItsCode(t *testing.T) {
	counts := &received{n: map[string]int{}}
	e := setup(t, server(ingest.Options{Observer: counts, RateLimit: 1, RateBurst: 1, AllowedOrigins: []string{"https://shop.example"},
		Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}))
	xff := map[string]string{"X-Forwarded-For": "203.0.113.40"}
	for _, tt := range []struct {
		word string
		req  request
	}{
		{"queued", request{body: `{"glpClickId":"c1","conversion_id":"o1"}`, server: true}},
		{"duplicate", request{body: `{"glpClickId":"c1","conversion_id":"o1"}`, server: true}},
		{"preflight", request{method: "OPTIONS", headers: map[string]string{"Origin": "https://shop.example"}}},
		{"method_not_allowed", request{method: "GET"}},
		{"invalid", request{body: `{"email":"not an email"}`}},
		{"unauthorized", request{body: `{}`, headers: map[string]string{"Authorization": "Bearer wrong"}}},
		{"forbidden_origin", request{body: `{}`, headers: map[string]string{"Origin": "https://evil.example"}}},
		{"too_large", request{body: `{"x":"` + strings.Repeat("a", 17<<10) + `"}`}},
		{"unsupported_type", request{body: `{}`, contentType: "text/plain"}},
		{"nothing_to_attribute", request{body: `{"conversion_id":"o2"}`}},
		{"queued", request{body: `{"glpClickId":"c2"}`, headers: xff}},
		{"rate_limited", request{body: `{"glpClickId":"c3"}`, headers: xff}},
	} {
		counts.mu.Lock()
		before := counts.n[tt.word]
		counts.mu.Unlock()
		r := e.do(t, tt.req)
		counts.mu.Lock()
		got := counts.n[tt.word] - before
		counts.mu.Unlock()
		if got != 1 {
			t.Errorf("%d %v: counted %v, want one more %q", r.status, r.body, counts.n, tt.word)
		}
	}
}
