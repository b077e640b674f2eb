package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/ingest"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

type env struct {
	srv *httptest.Server
	box *sqlite.Store
}

func setup(t *testing.T, opts ingest.Options) env {
	t.Helper()
	box, err := sqlite.Open(sqlite.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = box
	if opts.BrowserCalls == "" {
		// These tests are of everything else a browser call gets; which
		// ones are queued is TestCorroborated… 's (and cmd/sidecar's).
		opts.BrowserCalls = ingest.BrowserOpen
	}
	h, err := ingest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); box.Close() })
	return env{srv, box}
}

func (e env) count(t *testing.T) int {
	t.Helper()
	st, err := e.box.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range st.States {
		n += v
	}
	return n
}

type request struct {
	method, contentType, body, query string
	headers                          map[string]string
	cookies                          map[string]string
	server                           bool // a server call: Authorization: Bearer serverToken
}

// serverToken is the ingest token of the tests' server calls.
const serverToken = "ingest-token-for-tests-0123456789"

// server is opts for an endpoint that takes server calls.
func server(opts ingest.Options) ingest.Options {
	opts.IngestToken = serverToken
	return opts
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (e env) do(t *testing.T, r request) response {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.contentType == "" {
		r.contentType = "application/json"
	}
	req, _ := http.NewRequest(r.method, e.srv.URL+"/glp-s2s-conversion"+r.query, strings.NewReader(r.body))
	if r.contentType != "none" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.server {
		req.Header.Set("Authorization", "Bearer "+serverToken)
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	for k, v := range r.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("answer is not a JSON object: %q", raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
	return out
}

// stored returns the event an accepted request stored.
func (e env) stored(t *testing.T, resp response) sidecar.Event {
	t.Helper()
	id, _ := resp.body["event_id"].(string)
	ev, _, err := e.box.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("event %q: %v", id, err)
	}
	return ev
}

func TestAcceptedConversionsAreStoredWithWhatTheRequestCarries(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		opts    ingest.Options
		req     request
		want    sidecar.Conversion
		test    bool
		source  string
		wantKey string
	}{
		{"glpClickId from the body", ingest.Options{}, request{body: `{"glpClickId":"abc","email":"pat@example.com"}`},
			sidecar.Conversion{ClickID: "abc", Email: "pat@example.com"}, false, "body", ""},
		{"transaction_id is the same field", ingest.Options{}, request{body: `{"transaction_id":"t-1"}`},
			sidecar.Conversion{ClickID: "t-1"}, false, "body", ""},
		{"glp_click_id is the same field", ingest.Options{}, request{body: `{"glp_click_id":"g-1"}`},
			sidecar.Conversion{ClickID: "g-1"}, false, "body", ""},
		{"a null click id falls back to the cookie", ingest.Options{}, request{body: `{"glpClickId":null,"email":"a@example.com"}`, cookies: map[string]string{"_glp_cid": "from-cookie"}},
			sidecar.Conversion{ClickID: "from-cookie", Email: "a@example.com"}, false, "cookie", ""},
		{"a renamed cookie is read", ingest.Options{CookieName: "aff"}, request{body: `{}`, cookies: map[string]string{"aff": "renamed"}},
			sidecar.Conversion{ClickID: "renamed"}, false, "cookie", ""},
		{"an invalid cookie is ignored", ingest.Options{}, request{body: `{"email":"b@example.com"}`, cookies: map[string]string{"_glp_cid": strings.Repeat("x", 257)}},
			sidecar.Conversion{Email: "b@example.com"}, false, "", ""},
		{"the session token comes from the SDK's cookie", ingest.Options{}, request{body: `{}`, cookies: map[string]string{"_glp_sid": "sess-1"}},
			sidecar.Conversion{SessionToken: "sess-1"}, false, "", ""},
		{"sessionToken and conversionId are spellings too", server(ingest.Options{}), request{body: `{"sessionToken":"s","conversionId":"o-1"}`, server: true},
			sidecar.Conversion{SessionToken: "s", ConversionID: "o-1"}, false, "", "o-1"},
		{"a browser call's conversion id is a key of its own namespace", server(ingest.Options{}), request{body: `{"sessionToken":"s","conversionId":"o-1"}`},
			sidecar.Conversion{SessionToken: "s", ConversionID: "o-1"}, false, "", "browser:*:o-1"},
		{"the email is sent trimmed, case kept", ingest.Options{}, request{body: `{"email":"  Pat@Example.COM "}`},
			sidecar.Conversion{Email: "Pat@Example.COM"}, false, "", ""},
		{"a loopback peer's address is not sent", ingest.Options{}, request{body: `{"glpClickId":"x"}`},
			sidecar.Conversion{ClickID: "x"}, false, "body", ""},
		{"X-Forwarded-For from an untrusted peer is not believed", ingest.Options{}, request{body: `{"glpClickId":"x"}`, headers: map[string]string{"X-Forwarded-For": "203.0.113.5"}},
			sidecar.Conversion{ClickID: "x"}, false, "body", ""},
		{"X-Forwarded-For from a trusted proxy gives the end user", ingest.Options{Trusted: loopback},
			request{body: `{"glpClickId":"x"}`, headers: map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.5, 10.1.2.3"}},
			sidecar.Conversion{ClickID: "x", IP: "203.0.113.5"}, false, "body", ""},
		{"a private forwarded address is not sent", ingest.Options{Trusted: loopback},
			request{body: `{"glpClickId":"x"}`, headers: map[string]string{"X-Forwarded-For": "192.168.1.20"}},
			sidecar.Conversion{ClickID: "x"}, false, "body", ""},
		{"a server call's ip in the body wins", server(ingest.Options{Trusted: loopback}),
			request{body: `{"ip":"2001:db8::1"}`, headers: map[string]string{"X-Forwarded-For": "203.0.113.5"}, server: true},
			sidecar.Conversion{IP: "2001:db8::1"}, false, "", ""},
		{"a browser call's ip in the body is ignored", server(ingest.Options{Trusted: loopback}),
			request{body: `{"ip":"2001:db8::1"}`, headers: map[string]string{"X-Forwarded-For": "203.0.113.5"}},
			sidecar.Conversion{IP: "203.0.113.5"}, false, "", ""},
		{"an IPv4-mapped ip is sent as IPv4", server(ingest.Options{}),
			request{body: `{"ip":"::ffff:203.0.113.9"}`, server: true},
			sidecar.Conversion{IP: "203.0.113.9"}, false, "", ""},
		{"a server call's private ip is not sent", server(ingest.Options{}),
			request{body: `{"glpClickId":"x","ip":"10.0.0.7"}`, server: true},
			sidecar.Conversion{ClickID: "x"}, false, "body", ""},
		{"a server call's loopback ip is not sent", server(ingest.Options{}),
			request{body: `{"glpClickId":"x","ip":"::1"}`, server: true},
			sidecar.Conversion{ClickID: "x"}, false, "body", ""},
		{"testMode in the body", ingest.Options{}, request{body: `{"glpClickId":"x","testMode":true}`},
			sidecar.Conversion{ClickID: "x"}, true, "body", ""},
		{"the test-mode header", ingest.Options{}, request{body: `{"glpClickId":"x"}`, headers: map[string]string{"X-GLP-Test-Mode": "true"}},
			sidecar.Conversion{ClickID: "x"}, true, "body", ""},
		{"GLP_TEST_MODE makes every event a test", ingest.Options{TestMode: true}, request{body: `{"glpClickId":"x"}`},
			sidecar.Conversion{ClickID: "x"}, true, "body", ""},
		{"unknown fields are ignored", ingest.Options{}, request{body: `{"glpClickId":"x","plan":"gold","amount":99}`},
			sidecar.Conversion{ClickID: "x"}, false, "body", ""},
		{"a server call's Idempotency-Key header is the key", server(ingest.Options{}), request{body: `{"glpClickId":"x","conversion_id":"o-9"}`, headers: map[string]string{"Idempotency-Key": "idem-1"}, server: true},
			sidecar.Conversion{ClickID: "x", ConversionID: "o-9"}, false, "body", "idem-1"},
		{"a browser call's Idempotency-Key header is ignored", server(ingest.Options{}), request{body: `{"glpClickId":"x","conversion_id":"o-9"}`, headers: map[string]string{"Idempotency-Key": "idem-1"}},
			sidecar.Conversion{ClickID: "x", ConversionID: "o-9"}, false, "body", "browser:*:o-9"},
		{"a browser call's ?wait= is not read", ingest.Options{}, request{body: `{"glpClickId":"x"}`, query: "?wait=soon"},
			sidecar.Conversion{ClickID: "x"}, false, "body", ""},
		{"a Content-Type with a charset", ingest.Options{}, request{body: `{"glpClickId":"x"}`, contentType: "application/json; charset=utf-8"},
			sidecar.Conversion{ClickID: "x"}, false, "body", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, tt.opts)
			resp := e.do(t, tt.req)
			if resp.status != http.StatusAccepted || resp.body["status"] != "queued" {
				t.Fatalf("%d %v", resp.status, resp.body)
			}
			ev := e.stored(t, resp)
			keyOK := ev.Key == tt.wantKey
			if prefix, suffix, scoped := strings.Cut(tt.wantKey, "*"); scoped { // a browser call's key: scoped by a hash
				keyOK = strings.HasPrefix(ev.Key, prefix) && strings.HasSuffix(ev.Key, suffix) && len(ev.Key) > len(tt.wantKey)
			}
			if ev.Conversion != tt.want || ev.Test != tt.test || ev.ClickSource != tt.source || !keyOK || ev.State != sidecar.StateQueued {
				t.Errorf("stored %+v (test %v, source %q, key %q)\nwant %+v (test %v, source %q, key %q)",
					ev.Conversion, ev.Test, ev.ClickSource, ev.Key, tt.want, tt.test, tt.source, tt.wantKey)
			}
		})
	}
}

func TestRefusalsStoreNothingAndSayWhy(t *testing.T) {
	big := `{"glpClickId":"x","pad":"` + strings.Repeat("a", 17<<10) + `"}`
	tests := []struct {
		name    string
		opts    ingest.Options
		req     request
		status  int
		details []string // fields named in details
		errLike string   // part of the error message
	}{
		{"not JSON", ingest.Options{}, request{body: `{"glpClickId":`}, 400, []string{"body"}, "Invalid request body"},
		{"an empty body", ingest.Options{}, request{body: ``}, 400, []string{"body"}, "Invalid request body"},
		{"an array", ingest.Options{}, request{body: `[{"glpClickId":"x"}]`}, 400, []string{"body"}, "Invalid request body"},
		{"null", ingest.Options{}, request{body: `null`}, 400, []string{"body"}, "Invalid request body"},
		{"a numeric click id", ingest.Options{}, request{body: `{"glpClickId":12}`}, 400, []string{"glpClickId"}, ""},
		{"a click id with a space", ingest.Options{}, request{body: `{"transaction_id":"a b"}`}, 400, []string{"transaction_id"}, ""},
		{"an empty click id", ingest.Options{}, request{body: `{"glp_click_id":""}`}, 400, []string{"glp_click_id"}, ""},
		{"a click id of 257 characters", ingest.Options{}, request{body: `{"glpClickId":"` + strings.Repeat("c", 257) + `"}`}, 400, []string{"glpClickId"}, ""},
		{"a bad email", ingest.Options{}, request{body: `{"email":"pat@"}`}, 400, []string{"email"}, ""},
		{"an email of 255 bytes", ingest.Options{}, request{body: `{"email":"` + strings.Repeat("a", 243) + `@example.com"}`}, 400, []string{"email"}, ""},
		{"a bad ip", ingest.Options{}, request{body: `{"ip":"300.1.1.1"}`}, 400, []string{"ip"}, ""},
		{"an ip with a zone", ingest.Options{}, request{body: `{"ip":"fe80::1%eth0"}`}, 400, []string{"ip"}, ""},
		{"an empty conversion id", ingest.Options{}, request{body: `{"glpClickId":"x","conversion_id":""}`}, 400, []string{"conversion_id"}, ""},
		{"an over-long session token", ingest.Options{}, request{body: `{"sessionToken":"` + strings.Repeat("s", 257) + `"}`}, 400, []string{"sessionToken"}, ""},
		{"testMode as a string", ingest.Options{}, request{body: `{"glpClickId":"x","testMode":"yes"}`}, 400, []string{"testMode"}, ""},
		{"every bad field at once", ingest.Options{}, request{body: `{"glpClickId":1,"email":"x","ip":"y"}`}, 400, []string{"glpClickId", "email", "ip"}, ""},
		{"a click id with a character live in HTML", ingest.Options{}, request{body: `{"glpClickId":"a<b"}`}, 400, []string{"glpClickId"}, ""},
		{"a wait that is too long", server(ingest.Options{}), request{body: `{"glpClickId":"x"}`, query: "?wait=31s", server: true}, 400, []string{"wait"}, ""},
		{"a wait that is not a duration", server(ingest.Options{}), request{body: `{"glpClickId":"x"}`, query: "?wait=soon", server: true}, 400, []string{"wait"}, ""},
		{"an Idempotency-Key with a space", server(ingest.Options{}), request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Idempotency-Key": "a b"}, server: true}, 400, []string{"Idempotency-Key"}, ""},
		{"a wrong ingest token", server(ingest.Options{}), request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Authorization": "Bearer " + serverToken + "x"}}, 401, nil, "GLP_INGEST_TOKEN"},
		{"an Authorization header without an ingest token set", ingest.Options{}, request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Authorization": "Bearer anything"}}, 401, nil, "GLP_INGEST_TOKEN"},
		{"Basic credentials", server(ingest.Options{}), request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Authorization": "Basic " + serverToken}}, 401, nil, "Unauthorized"},
		{"an empty Authorization header", server(ingest.Options{}), request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Authorization": ""}}, 401, nil, "Unauthorized"},
		{"a body over 16 KiB", ingest.Options{}, request{body: big}, 413, nil, "too large"},
		{"text/plain", ingest.Options{}, request{body: `{"glpClickId":"x"}`, contentType: "text/plain"}, 415, nil, "application/json"},
		{"no Content-Type", ingest.Options{}, request{body: `{"glpClickId":"x"}`, contentType: "none"}, 415, nil, "application/json"},
		{"nothing to attribute", ingest.Options{}, request{body: `{"conversion_id":"o-1"}`}, 422, nil, "Nothing to attribute"},
		{"an origin that is not allowed", ingest.Options{AllowedOrigins: []string{"https://shop.example"}},
			request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Origin": "https://evil.example"}}, 403, nil, "GLP_ALLOWED_ORIGINS"},
		{"GET", ingest.Options{}, request{method: http.MethodGet}, 405, nil, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, tt.opts)
			resp := e.do(t, tt.req)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %v", resp.status, tt.status, resp.body)
			}
			msg, _ := resp.body["error"].(string)
			if msg == "" || !strings.Contains(msg, tt.errLike) {
				t.Errorf("error %q, want it to contain %q", msg, tt.errLike)
			}
			details, _ := resp.body["details"].(map[string]any)
			for _, f := range tt.details {
				if s, _ := details[f].(string); s == "" {
					t.Errorf("details %v do not say what is wrong with %s", details, f)
				}
			}
			if len(details) != len(tt.details) {
				t.Errorf("details %v, want exactly %v", details, tt.details)
			}
			if n := e.count(t); n != 0 {
				t.Errorf("a refused request stored %d events", n)
			}
		})
	}
}

func TestTheSameConversionIdIsADuplicate(t *testing.T) {
	e := setup(t, server(ingest.Options{}))
	first := e.do(t, request{body: `{"glpClickId":"x","conversion_id":"order-1"}`, server: true})
	again := e.do(t, request{body: `{"glpClickId":"y","conversionId":"order-1"}`, server: true})
	if first.status != 202 || again.status != 200 || again.body["status"] != "duplicate" || again.body["event_id"] != first.body["event_id"] {
		t.Fatalf("first %d %v, again %d %v", first.status, first.body, again.status, again.body)
	}
	byHeader := request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Idempotency-Key": "k-1"}, server: true}
	a, b := e.do(t, byHeader), e.do(t, byHeader)
	if a.status != 202 || b.status != 200 || b.body["event_id"] != a.body["event_id"] {
		t.Errorf("Idempotency-Key: %d %v, %d %v", a.status, a.body, b.status, b.body)
	}
	if n := e.count(t); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
}

func TestThePerClientRateLimitAnswers429WithRetryAfter(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	e := setup(t, ingest.Options{RateLimit: 1, RateBurst: 2, Trusted: trusted})
	from := func(ip string) request {
		return request{body: `{"glpClickId":"x"}`, headers: map[string]string{"X-Forwarded-For": ip}}
	}
	for i := 0; i < 2; i++ {
		if r := e.do(t, from("203.0.113.7")); r.status != 202 {
			t.Fatalf("within the burst: %d", r.status)
		}
	}
	r := e.do(t, from("203.0.113.7"))
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v", r.status, r.header)
	}
	if r := e.do(t, from("198.51.100.8")); r.status != 202 {
		t.Errorf("another client was limited: %d", r.status)
	}
	for i := 0; i < 5; i++ {
		if r := e.do(t, request{body: `{"glpClickId":"x"}`}); r.status != 202 {
			t.Fatalf("the provider's own server (loopback) was limited: %d", r.status)
		}
	}
	if n := e.count(t); n != 8 {
		t.Errorf("%d stored, want 8", n)
	}
}

func TestAFullOutboxAnswers503AndRecovers(t *testing.T) {
	e := setup(t, ingest.Options{})
	e.do(t, request{body: `{"glpClickId":"warm"}`})
	before := e.count(t)
	if err := e.box.SetMaxPages(1); err != nil {
		t.Fatal(err)
	}
	var r response
	for i := 0; i < 100; i++ { // fill what the last page had left
		r = e.do(t, request{body: `{"glpClickId":"x","session_token":"` + strings.Repeat("s", 250) + `"}`})
		if r.status != 202 {
			break
		}
	}
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body["error"].(string), "nothing was stored") {
		t.Fatalf("full: %d %v %v", r.status, r.header, r.body)
	}
	stored := e.count(t) - before
	if err := e.box.SetMaxPages(1 << 30); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, request{body: `{"glpClickId":"after"}`}); r.status != 202 {
		t.Fatalf("after space returned: %d %v", r.status, r.body)
	}
	if n := e.count(t) - before; n != stored+1 {
		t.Errorf("%d events, want %d: the 503 left a row", n, stored+1)
	}
}

func TestCORSAdmitsOnlyListedOriginsAndTheSameOrigin(t *testing.T) {
	e := setup(t, ingest.Options{AllowedOrigins: []string{"https://shop.example"}})
	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+"/glp-s2s-conversion", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := pre("https://shop.example")
	if ok.StatusCode != 204 || ok.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		ok.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(ok.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("allowed preflight: %d %v", ok.StatusCode, ok.Header)
	}
	if bad := pre("https://evil.example"); bad.StatusCode != 403 || bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused preflight: %d %v", bad.StatusCode, bad.Header)
	}
	r := e.do(t, request{body: `{"glpClickId":"x"}`, headers: map[string]string{"Origin": "https://shop.example"}})
	if r.status != 202 || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("allowed POST: %d %v", r.status, r.header)
	}
	same := e.do(t, request{body: `{"glpClickId":"y"}`, headers: map[string]string{"Origin": e.srv.URL}})
	if same.status != 202 || same.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("same-origin POST: %d %v", same.status, same.header)
	}
}

func TestALostClickIdIsRecoveredFromTheClickLog(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	now := time.Now()
	box, err := sqlite.Open(sqlite.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	box.RecordClick(context.Background(), sidecar.Click{ClickID: "old", At: now.Add(-48 * time.Hour), IP: "203.0.113.5", UserAgent: "UA-1", TopLevel: true})
	box.RecordClick(context.Background(), sidecar.Click{ClickID: "recent", At: now.Add(-time.Hour), IP: "203.0.113.5", UserAgent: "UA-1", TopLevel: true})
	box.RecordClick(context.Background(), sidecar.Click{ClickID: "embedded", At: now.Add(-time.Minute), IP: "203.0.113.5", UserAgent: "UA-1"}) // not top-level: never matched
	box.RecordClick(context.Background(), sidecar.Click{ClickID: "other-ua", At: now.Add(-time.Hour), IP: "203.0.113.8", UserAgent: "UA-3", TopLevel: true})
	box.RecordClick(context.Background(), sidecar.Click{ClickID: "this-morning", At: now.Add(-10 * time.Hour), IP: "203.0.113.9", UserAgent: "UA-9", TopLevel: true})
	tests := []struct {
		name      string
		matcher   ingest.ClickMatcher
		window    time.Duration
		ip, ua    string
		body      string
		want, src string
	}{
		{"same address and user agent", box, 720 * time.Hour, "203.0.113.5", "UA-1", `{"email":"a@example.com"}`, "recent", "local_match"},
		{"another user agent", box, 720 * time.Hour, "203.0.113.5", "UA-2", `{"email":"a@example.com"}`, "", ""},
		{"another address", box, 720 * time.Hour, "203.0.113.6", "UA-1", `{"email":"a@example.com"}`, "", ""},
		{"outside the window", box, 30 * time.Minute, "203.0.113.5", "UA-1", `{"email":"a@example.com"}`, "", ""},
		{"a click id in the body is never replaced", box, 720 * time.Hour, "203.0.113.5", "UA-1", `{"glpClickId":"mine"}`, "mine", "body"},
		{"switched off", nil, 720 * time.Hour, "203.0.113.5", "UA-1", `{"email":"a@example.com"}`, "", ""},
		{"the default window is hours, not the cookie's 30 days", box, 0, "203.0.113.5", "UA-1", `{"email":"a@example.com"}`, "recent", "local_match"},
		{"a landing 10 hours ago is past the default window", box, 0, "203.0.113.9", "UA-9", `{"email":"a@example.com"}`, "", ""},
		{"a server call is never matched (its address is the backend's)", box, 720 * time.Hour, "203.0.113.8", "UA-3", `{"email":"a@example.com"}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := ingest.New(ingest.Options{Store: box, BrowserCalls: ingest.BrowserOpen, Matcher: tt.matcher, MatchWindow: tt.window, Trusted: trusted, IngestToken: serverToken})
			srv := httptest.NewServer(h)
			defer srv.Close()
			e := env{srv, box}
			resp := e.do(t, request{body: tt.body, headers: map[string]string{"X-Forwarded-For": tt.ip, "User-Agent": tt.ua}, server: strings.HasPrefix(tt.name, "a server call")})
			ev := e.stored(t, resp)
			if ev.Conversion.ClickID != tt.want || ev.ClickSource != tt.src {
				t.Errorf("click id %q from %q, want %q from %q", ev.Conversion.ClickID, ev.ClickSource, tt.want, tt.src)
			}
		})
	}
}
