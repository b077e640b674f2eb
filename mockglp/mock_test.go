package mockglp_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/glpwinner/glp-sidecar/mockglp"
)

const token = "test-token"

// clock is a settable time for the mock's Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// mock starts the real mock on a loopback port.
func mock(t *testing.T, opts mockglp.Options) (*httptest.Server, *clock) {
	t.Helper()
	clk := newClock()
	if opts.Providers == nil {
		opts.Providers = map[string]int64{token: 123, "other-token": 456}
	}
	if opts.Now == nil {
		opts.Now = clk.now
	}
	m, err := mockglp.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(func() { srv.Close(); m.Close() })
	return srv, clk
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func post(t *testing.T, url, auth, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("answer is not JSON: %s", raw)
		}
	}
	return a
}

func convert(t *testing.T, srv *httptest.Server, body string) answer {
	t.Helper()
	return post(t, srv.URL+"/api/track/v1/conversion", "Bearer "+token, body)
}

func convertTest(t *testing.T, srv *httptest.Server, body string) answer {
	t.Helper()
	return post(t, srv.URL+"/api/track/v1/conversion?testMode=true", "Bearer "+token, body)
}

// session logs a click as GLP Winner's browser SDK does.
func session(t *testing.T, srv *httptest.Server, body string) string {
	t.Helper()
	a := post(t, srv.URL+"/api/track/v1/session", "", body)
	if a.status != http.StatusCreated {
		t.Fatalf("session: %d %s", a.status, a.raw)
	}
	return a.body["session_token"].(string)
}

func getList(t *testing.T, url string) []map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func conversions(t *testing.T, srv *httptest.Server) []map[string]any {
	return getList(t, srv.URL+"/_mock/conversions")
}

func jsonEq(t *testing.T, got string, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %q", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %q", want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("body\n got  %s\n want %s", gb, wb)
	}
}

func TestConversionIsCheckedInTheGuidesOrder(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	valid := `{"providerId":123,"transaction_id":"c1"}`
	tests := []struct {
		name, auth, body string
		status           int
		want             string
	}{
		{"no authorization header is 401", "", valid, 401, `{"error":"Unauthorized: API token missing."}`},
		{"a bearer without a token is 401", "Bearer ", valid, 401, `{"error":"Unauthorized: API token missing."}`},
		{"another scheme is 401", "Basic dGVzdA==", valid, 401, `{"error":"Unauthorized: API token missing."}`},
		{"an unknown token is 403", "Bearer nope", valid, 403, `{"error":"Unauthorized: Invalid API token."}`},
		{"an unknown token is refused before the body is read", "Bearer nope", `{`, 403, `{"error":"Unauthorized: Invalid API token."}`},
		{"a body that is not JSON is 400", "Bearer " + token, `{`, 400,
			`{"error":"Invalid request body","details":{"_errors":["Invalid JSON"]}}`},
		{"an array is 400", "Bearer " + token, `[]`, 400,
			`{"error":"Invalid request body","details":{"_errors":["Expected object, received array"]}}`},
		{"providerId as a string is 400 in Zod's shape", "Bearer " + token, `{"providerId":"123","transaction_id":"c1"}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"providerId":{"_errors":["Expected number, received string"]}}}`},
		{"a missing providerId is Required", "Bearer " + token, `{"transaction_id":"c1"}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"providerId":{"_errors":["Required"]}}}`},
		{"a fractional providerId is not an integer", "Bearer " + token, `{"providerId":1.5,"transaction_id":"c1"}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"providerId":{"_errors":["Expected integer, received float"]}}}`},
		{"a negative providerId is not positive", "Bearer " + token, `{"providerId":-4,"transaction_id":"c1"}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"providerId":{"_errors":["Number must be greater than 0"]}}}`},
		{"an empty transaction_id is too short", "Bearer " + token, `{"providerId":123,"transaction_id":""}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"transaction_id":{"_errors":["String must contain at least 1 character(s)"]}}}`},
		{"a numeric session_token is the wrong type", "Bearer " + token, `{"providerId":123,"session_token":5}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"session_token":{"_errors":["Expected string, received number"]}}}`},
		{"a null conversion_id is the wrong type", "Bearer " + token, `{"providerId":123,"transaction_id":"c1","conversion_id":null}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"conversion_id":{"_errors":["Expected string, received null"]}}}`},
		{"a bad email is Invalid email", "Bearer " + token, `{"providerId":123,"email":"not-an-email"}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"email":{"_errors":["Invalid email"]}}}`},
		{"a bad ip is Invalid ip", "Bearer " + token, `{"providerId":123,"ip":"1.2.3"}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"ip":{"_errors":["Invalid ip"]}}}`},
		{"nothing to attribute by is a root error", "Bearer " + token, `{"providerId":123,"conversion_id":"o-1"}`, 400,
			`{"error":"Invalid request body","details":{"_errors":["At least one of transaction_id, session_token, email or ip is required"]}}`},
		{"several bad fields are all reported", "Bearer " + token, `{"providerId":"x","email":"x","ip":"x"}`, 400,
			`{"error":"Invalid request body","details":{"_errors":[],"providerId":{"_errors":["Expected number, received string"]},"email":{"_errors":["Invalid email"]},"ip":{"_errors":["Invalid ip"]}}}`},
		{"a valid body for another provider is 403 mismatch", "Bearer " + token, `{"providerId":456,"transaction_id":"c1"}`, 403,
			`{"error":"Unauthorized: Provider ID mismatch."}`},
		{"an invalid body for another provider is 400 first", "Bearer " + token, `{"providerId":456}`, 400,
			`{"error":"Invalid request body","details":{"_errors":["At least one of transaction_id, session_token, email or ip is required"]}}`},
		{"the auth scheme is case-insensitive", "bearer " + token, `{"providerId":123,"transaction_id":"c-case"}`, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, srv.URL+"/api/track/v1/conversion", tt.auth, tt.body)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d (%s)", a.status, tt.status, a.raw)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.want != "" {
				jsonEq(t, a.raw, tt.want)
			}
		})
	}
	if n := len(conversions(t, srv)); n != 1 {
		t.Errorf("%d conversions recorded, want only the one valid call's", n)
	}
}

func TestAKnownClickConvertsOnceThenAnswersDuplicate(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	session(t, srv, `{"providerId":123,"glp_click_id":"clk-1"}`)

	first := convert(t, srv, `{"providerId":123,"transaction_id":"clk-1","email":"a@example.com","conversion_id":"ORDER-1"}`)
	if first.status != 201 {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	for k, v := range map[string]any{"status": "ok", "message": "Conversion recorded successfully.", "glp_click_id": "clk-1"} {
		if first.body[k] != v {
			t.Errorf("%s = %v, want %v", k, first.body[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, first.body["recorded_at"].(string)); err != nil {
		t.Errorf("recorded_at: %v", err)
	}
	if _, ok := first.body["mode"]; ok {
		t.Error("a live conversion carries mode")
	}

	again := convert(t, srv, `{"providerId":123,"transaction_id":"clk-1","conversion_id":"ORDER-2"}`)
	if again.status != 200 {
		t.Fatalf("again: %d %s", again.status, again.raw)
	}
	jsonEq(t, again.raw, `{"status":"duplicate","message":"Conversion already tracked for this click.","conversion_id":"`+first.body["conversion_id"].(string)+`"}`)

	convs := conversions(t, srv)
	if len(convs) != 1 || convs[0]["method"] != "direct" || convs[0]["external_id"] != "ORDER-1" || convs[0]["glp_click_id"] != "clk-1" {
		t.Errorf("conversions: %v", convs)
	}
}

func TestAnUnknownClickIdIsInferred(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	a := convert(t, srv, `{"providerId":123,"transaction_id":"never-seen","ip":"203.0.113.7"}`)
	if a.status != 201 || a.body["glp_click_id"] != "never-seen" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	b := convert(t, srv, `{"providerId":123,"transaction_id":"no-ip"}`)
	if b.status != 201 {
		t.Fatalf("%d %s", b.status, b.raw)
	}
	clicks := getList(t, srv.URL+"/_mock/clicks")
	if len(clicks) != 2 {
		t.Fatalf("clicks: %v", clicks)
	}
	if clicks[0]["inferred"] != true || clicks[0]["ip"] != "203.0.113.7" || clicks[0]["converted"] != true {
		t.Errorf("inferred click with the payload's ip: %v", clicks[0])
	}
	if clicks[1]["ip"] != "127.0.0.1" {
		t.Errorf("inferred click without an ip takes the request's source address: %v", clicks[1])
	}
	if m := conversions(t, srv)[0]["method"]; m != "inferred" {
		t.Errorf("method %v", m)
	}
	// An inferred click then behaves as any known click: a second conversion is a duplicate.
	if c := convert(t, srv, `{"providerId":123,"transaction_id":"never-seen"}`); c.status != 200 {
		t.Errorf("second conversion on the inferred click: %d", c.status)
	}
}

func TestASessionTokenFindsItsClick(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	tok := session(t, srv, `{"providerId":123,"glp_click_id":"clk-s"}`)
	a := convert(t, srv, `{"providerId":123,"session_token":"`+tok+`"}`)
	if a.status != 201 || a.body["glp_click_id"] != "clk-s" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if m := conversions(t, srv)[0]["method"]; m != "session" {
		t.Errorf("method %v", m)
	}
	if b := convert(t, srv, `{"providerId":123,"session_token":"`+tok+`"}`); b.status != 200 {
		t.Errorf("a converted session's click is a duplicate: %d", b.status)
	}
	// An unknown session token falls through to soft-matching, which finds nothing here.
	if c := convert(t, srv, `{"providerId":123,"session_token":"unknown"}`); c.status != 422 {
		t.Errorf("unknown session: %d %s", c.status, c.raw)
	}
}

func TestSoftMatchingTakesTheMostRecentUnconvertedClickByEmailThenIP(t *testing.T) {
	srv, clk := mock(t, mockglp.Options{SoftMatchWindow: 24 * time.Hour})
	session(t, srv, `{"providerId":123,"glp_click_id":"old-mail","email":"Pat@Example.com"}`)
	clk.advance(time.Minute)
	session(t, srv, `{"providerId":123,"glp_click_id":"new-mail","email":"pat@example.com"}`)
	clk.advance(time.Minute)
	session(t, srv, `{"providerId":123,"glp_click_id":"by-ip"}`) // from 127.0.0.1, the newest click
	clk.advance(time.Minute)

	steps := []struct {
		name, body, click, method string
		status                    int
	}{
		{"email matches case-insensitively, newest first", `{"providerId":123,"email":"PAT@example.COM","ip":"127.0.0.1"}`, "new-mail", "soft_email", 201},
		{"the next conversion takes the next unconverted click", `{"providerId":123,"email":"pat@example.com"}`, "old-mail", "soft_email", 201},
		{"without an email match, the IP decides", `{"providerId":123,"email":"pat@example.com","ip":"127.0.0.1"}`, "by-ip", "soft_ip", 201},
		{"nothing unconverted left is 422", `{"providerId":123,"ip":"127.0.0.1"}`, "", "", 422},
	}
	for _, s := range steps {
		a := convert(t, srv, s.body)
		if a.status != s.status {
			t.Fatalf("%s: %d %s", s.name, a.status, a.raw)
		}
		if s.status == 422 {
			jsonEq(t, a.raw, `{"error":"Conversion not attributed: No valid click identifier found or matched."}`)
			continue
		}
		if a.body["glp_click_id"] != s.click {
			t.Errorf("%s: click %v, want %s", s.name, a.body["glp_click_id"], s.click)
		}
		convs := conversions(t, srv)
		if m := convs[len(convs)-1]["method"]; m != s.method {
			t.Errorf("%s: method %v, want %s", s.name, m, s.method)
		}
	}
}

func TestSoftMatchingIgnoresClicksOutsideTheWindowAndOtherProviders(t *testing.T) {
	srv, clk := mock(t, mockglp.Options{SoftMatchWindow: time.Hour})
	session(t, srv, `{"providerId":123,"glp_click_id":"stale","email":"old@example.com"}`)
	session(t, srv, `{"providerId":456,"glp_click_id":"theirs","email":"x@example.com"}`)
	clk.advance(2 * time.Hour)
	if a := convert(t, srv, `{"providerId":123,"email":"old@example.com"}`); a.status != 422 {
		t.Errorf("a click outside the window matched: %d %s", a.status, a.raw)
	}
	if a := convert(t, srv, `{"providerId":123,"email":"x@example.com"}`); a.status != 422 {
		t.Errorf("another provider's click matched: %d %s", a.status, a.raw)
	}
	// Another provider's click id is unknown here: it is inferred for 123, not converted for 456.
	if a := convert(t, srv, `{"providerId":123,"transaction_id":"theirs"}`); a.status != 201 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	for _, c := range getList(t, srv.URL+"/_mock/clicks") {
		if c["provider_id"].(float64) == 456 && c["converted"] == true {
			t.Error("provider 456's click was converted by provider 123")
		}
	}
}

func TestTestModeNeverMixesWithLiveData(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	session(t, srv, `{"providerId":123,"glp_click_id":"live-click","email":"m@example.com"}`)

	a := convertTest(t, srv, `{"providerId":123,"transaction_id":"live-click"}`)
	if a.status != 201 || a.body["mode"] != "test" {
		t.Fatalf("test conversion of a live click id: %d %s", a.status, a.raw)
	}
	if b := convert(t, srv, `{"providerId":123,"transaction_id":"live-click"}`); b.status != 201 {
		t.Errorf("the live click was taken by test data: %d %s", b.status, b.raw)
	}
	if c := convertTest(t, srv, `{"providerId":123,"email":"m@example.com"}`); c.status != 422 {
		t.Errorf("test soft-matching found a live click: %d %s", c.status, c.raw)
	}
	if d := convertTest(t, srv, `{"providerId":123,"transaction_id":"live-click"}`); d.status != 200 {
		t.Errorf("test dedup: %d %s", d.status, d.raw)
	}
	var test, live int
	for _, c := range conversions(t, srv) {
		if c["test"] == true {
			test++
		} else {
			live++
		}
	}
	if test != 1 || live != 1 {
		t.Errorf("test %d, live %d; want 1 and 1", test, live)
	}
}

func TestConcurrentConversionsOfOneClickGiveExactlyOneCreated(t *testing.T) {
	for _, store := range []string{"memory", "file"} {
		t.Run(store, func(t *testing.T) {
			opts := mockglp.Options{}
			if store == "file" {
				opts.DBPath = filepath.Join(t.TempDir(), "mock.db")
			}
			srv, _ := mock(t, opts)
			const n = 32
			var wg sync.WaitGroup
			statuses := make(chan int, n)
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/track/v1/conversion", strings.NewReader(`{"providerId":123,"transaction_id":"race"}`))
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					statuses <- resp.StatusCode
				}()
			}
			close(start)
			wg.Wait()
			close(statuses)
			count := map[int]int{}
			for s := range statuses {
				count[s]++
			}
			if count[201] != 1 || count[200] != n-1 {
				t.Errorf("statuses %v; want one 201 and %d 200", count, n-1)
			}
			if c := conversions(t, srv); len(c) != 1 {
				t.Errorf("%d conversions recorded", len(c))
			}
		})
	}
}

func TestTheSessionServiceIsOpenToBrowsers(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/api/track/v1/session", nil)
	req.Header.Set("Origin", "https://provider.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/track/v1/session", strings.NewReader(`{"providerId":123,"glp_click_id":"ua-click","utm_source":"news"}`))
	req.Header.Set("User-Agent", "TestBrowser/1.0")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("session: %d", resp.StatusCode)
	}
	clicks := getList(t, srv.URL+"/_mock/clicks")
	want := map[string]any{"glp_click_id": "ua-click", "provider_id": 123.0, "ip": "127.0.0.1", "user_agent": "TestBrowser/1.0", "inferred": false, "test": false, "converted": false}
	for k, v := range want {
		if clicks[0][k] != v {
			t.Errorf("click %s = %v, want %v", k, clicks[0][k], v)
		}
	}
	for _, bad := range []struct{ body, field string }{
		{`{"providerId":999,"glp_click_id":"x"}`, "providerId"},
		{`{"providerId":123}`, "glp_click_id"},
		{`{"providerId":123,"glp_click_id":"x","email":"nope"}`, "email"},
	} {
		a := post(t, srv.URL+"/api/track/v1/session", "", bad.body)
		if a.status != 400 || a.body["details"].(map[string]any)[bad.field] == nil {
			t.Errorf("%s: %d %s", bad.body, a.status, a.raw)
		}
	}
}

func TestTheListsCarryTheFieldsSpecNames(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	convert(t, srv, `{"providerId":123,"transaction_id":"f1","email":"e@example.com","ip":"203.0.113.9","conversion_id":"X-1"}`)
	clickFields := []string{"glp_click_id", "provider_id", "ip", "email", "user_agent", "inferred", "test", "converted", "created_at"}
	convFields := []string{"conversion_id", "provider_id", "glp_click_id", "external_id", "email", "ip", "method", "test", "recorded_at"}
	for _, c := range []struct {
		path   string
		fields []string
	}{{"/_mock/clicks", clickFields}, {"/_mock/conversions", convFields}} {
		list := getList(t, srv.URL+c.path)
		if len(list) != 1 {
			t.Fatalf("%s: %v", c.path, list)
		}
		for _, f := range c.fields {
			if _, ok := list[0][f]; !ok {
				t.Errorf("%s lacks %s: %v", c.path, f, list[0])
			}
		}
	}
	post(t, srv.URL+"/_mock/reset", "", "")
	if n := len(conversions(t, srv)) + len(getList(t, srv.URL+"/_mock/clicks")); n != 0 {
		t.Errorf("reset left %d rows", n)
	}
}

func TestFaultsFailTheNextCallsAndCountThem(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	setFault := func(body string) {
		t.Helper()
		if a := post(t, srv.URL+"/_mock/faults", "", body); a.status != 200 {
			t.Fatalf("set fault %s: %d %s", body, a.status, a.raw)
		}
	}
	body := func(id string) string { return `{"providerId":123,"transaction_id":"` + id + `"}` }

	setFault(`{"status":503,"count":2,"retry_after":"7"}`)
	for i := 0; i < 2; i++ {
		a := convert(t, srv, body("f"))
		if a.status != 503 || a.header.Get("Retry-After") != "7" {
			t.Fatalf("call %d: %d %v", i, a.status, a.header)
		}
	}
	if a := convert(t, srv, body("f")); a.status != 201 {
		t.Fatalf("after the fault: %d", a.status)
	}
	if a := post(t, srv.URL+"/_mock/faults", "", `{"status":503,"count":1}`); a.body["left"] != 1.0 {
		t.Errorf("fault state: %s", a.raw)
	}
	setFault(`{}`)
	if a := convert(t, srv, body("g")); a.status != 201 {
		t.Errorf("a cleared fault still fails: %d", a.status)
	}

	setFault(`{"delay":"150ms"}`)
	start := time.Now()
	if a := convert(t, srv, body("h")); a.status != 201 {
		t.Errorf("delayed call: %d", a.status)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Error("the delay was not applied")
	}

	setFault(`{"drop":true}`)
	if err := tryConvert(srv, body("dropped")); err == nil {
		t.Error("a dropped connection answered")
	}
	if n := len(conversions(t, srv)); n != 3 {
		t.Errorf("a dropped call was recorded: %d conversions", n)
	}

	setFault(`{"drop":true,"after":true}`)
	if err := tryConvert(srv, body("lost-answer")); err == nil {
		t.Error("a dropped answer arrived")
	}
	if n := len(conversions(t, srv)); n != 4 {
		t.Errorf("drop-after did not record the conversion: %d", n)
	}
	if a := convert(t, srv, body("lost-answer")); a.status != 200 {
		t.Errorf("the repeat of a lost answer: %d, want duplicate", a.status)
	}

	for _, bad := range []string{`{"status":42}`, `{"delay":"soon"}`, `{"colour":"red"}`, `{"status":503,"retry_after":"later"}`} {
		if a := post(t, srv.URL+"/_mock/faults", "", bad); a.status != 400 {
			t.Errorf("fault %s: %d", bad, a.status)
		}
	}
}

func tryConvert(srv *httptest.Server, body string) error {
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/track/v1/conversion", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestThePageIsServed(t *testing.T) {
	srv, _ := mock(t, mockglp.Options{})
	resp, err := http.Get(srv.URL + "/_mock/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Mock GLP Winner") || !strings.Contains(string(b), "'conversions'") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// Rule 6: a failure that is none of the guide's answers, here the store
// losing its conversions table under the running mock, is a 500 with the
// guide's body, which names nothing of the cause; the log does.
func TestAFailureOfItsOwnIsA500ThatSaysNothingMore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mock.db")
	var logged syncBuffer
	srv, _ := mock(t, mockglp.Options{DBPath: path, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if a := convert(t, srv, `{"providerId":123,"transaction_id":"before"}`); a.status != http.StatusCreated {
		t.Fatalf("before the failure: %d %s", a.status, a.raw)
	}

	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TABLE conversions`); err != nil {
		t.Fatal(err)
	}

	a := convert(t, srv, `{"providerId":123,"transaction_id":"after"}`)
	if a.status != http.StatusInternalServerError {
		t.Fatalf("with its store broken: %d %s", a.status, a.raw)
	}
	jsonEq(t, a.raw, `{"error":"Internal Server Error"}`)
	if log := logged.String(); !strings.Contains(log, "mock conversion failed") || !strings.Contains(log, "conversions") {
		t.Errorf("the cause is not in the log:\n%s", log)
	}
}

// syncBuffer is a log the mock's handlers write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
