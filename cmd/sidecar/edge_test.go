package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The public edge, tried as an attacker would, against a real sidecar serve
// and mock behind a simulated load balancer: the sidecar trusts loopback
// as its proxy, and every request says which public (documentation)
// address it comes from in X-Forwarded-For.

// edgeStack is startStack with the load balancer's trust and the local
// match on, so that a planted click would be credited if it were logged.
func edgeStack(t *testing.T) stack {
	t.Helper()
	return startStack(t, "GLP_TRUSTED_PROXIES=127.0.0.0/8", "GLP_LOCAL_MATCH=true", "GLP_LOG_LEVEL=warn")
}

// send makes a request with headers (a JSON content type when it has a
// body) and decodes a JSON answer.
func send(t *testing.T, method, url string, headers map[string]string, body string) (int, map[string]any, http.Header) {
	t.Helper()
	if body != "" {
		h := map[string]string{"Content-Type": "application/json"}
		for k, v := range headers {
			h[k] = v
		}
		headers = h
	}
	status, header, raw := do(t, method, url, headers, body)
	var out map[string]any
	json.Unmarshal([]byte(raw), &out)
	return status, out, header
}

// visitor is one browser at a public address.
func visitor(ip, ua string, more map[string]string) map[string]string {
	h := map[string]string{"X-Forwarded-For": ip, "User-Agent": ua}
	for k, v := range more {
		h[k] = v
	}
	return h
}

var (
	navigate = map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-User": "?1"}
	imageTag = map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "cross-site"}
	server   = map[string]string{"Authorization": "Bearer " + testIngestToken}
)

// clicks returns the click log's latest clicks, as the admin API lists them.
func (s stack) clicks(t *testing.T, limit int) []map[string]any {
	t.Helper()
	_, out, _ := call(t, "GET", fmt.Sprintf("%s/admin/api/clicks?limit=%d", s.admin, limit), "", "")
	raw, _ := out["clicks"].([]any)
	var list []map[string]any
	for _, c := range raw {
		list = append(list, c.(map[string]any))
	}
	return list
}

// settledClicks returns the click log once every landing made before the
// call is written, or dropped for good. The log is written in the
// background, in the order landings come: settledClicks lands once more,
// from an address and with a click id of its own, and waits until that
// landing is listed; every landing before it is written by then, and none
// comes later. Its own landing is left out of what it returns.
func (s stack) settledClicks(t *testing.T) []map[string]any {
	t.Helper()
	marker := fmt.Sprintf("settled-%d", time.Now().UnixNano())
	send(t, "GET", s.public+"/?glp_click_id="+marker, visitor(fmt.Sprintf("192.0.2.%d", 1+rand.IntN(254)), "Settle/1", navigate), "")
	var list []map[string]any
	waitFor(t, func() bool {
		list = s.clicks(t, 500)
		return slices.ContainsFunc(list, func(c map[string]any) bool { return c["glp_click_id"] == marker })
	})
	return slices.DeleteFunc(list, func(c map[string]any) bool { return c["glp_click_id"] == marker })
}

// mockConversions are what reached the mock.
func (s stack) mockConversions(t *testing.T) []map[string]any {
	t.Helper()
	resp, err := http.Get(s.mock + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []map[string]any
	json.NewDecoder(resp.Body).Decode(&list)
	return list
}

// metrics is the admin listener's /metrics page.
func (s stack) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// settled waits until an event is no longer queued and returns it.
func (s stack) settled(t *testing.T, id string) map[string]any {
	t.Helper()
	var ev map[string]any
	waitFor(t, func() bool {
		_, out, _ := call(t, "GET", s.admin+"/admin/api/events/"+id, "", "")
		ev, _ = out["event"].(map[string]any)
		return ev != nil && ev["state"] != "queued"
	})
	return ev
}

func TestACrossSiteImagePlantsNoClickAndALaterOrganicConversionIsNotCreditedToIt(t *testing.T) {
	t.Parallel()
	s := edgeStack(t)
	const ip, ua = "203.0.113.10", "Victim/1.0"
	status, _, h := send(t, "GET", s.public+"/any?glp_click_id=planted-img", visitor(ip, ua, imageTag), "")
	if h.Get("Set-Cookie") != "" {
		t.Errorf("the image set a cookie: %d %q", status, h.Get("Set-Cookie"))
	}
	// The visitor signs up later, organically, from the same address and browser.
	code, out, _ := send(t, "POST", s.public+"/api/glp-s2s-conversion", visitor(ip, ua, nil), `{"email":"organic@example.com"}`)
	if code != 202 {
		t.Fatalf("organic sign-up: %d %v", code, out)
	}
	ev := s.settled(t, out["event_id"].(string))
	if conv, _ := ev["conversion"].(map[string]any); conv["transaction_id"] != nil {
		t.Errorf("the organic conversion was credited to %v (%v)", conv["transaction_id"], ev["click_source"])
	}
	for _, c := range s.mockConversions(t) {
		if c["glp_click_id"] == "planted-img" {
			t.Errorf("the planted click reached GLP Winner: %v", c)
		}
	}
	for _, c := range s.settledClicks(t) {
		if c["glp_click_id"] == "planted-img" {
			t.Errorf("the image logged a click: %v", c)
		}
	}
}

func TestANavigationIsRecordedAndWithTheLocalMatchOnMatched(t *testing.T) {
	t.Parallel()
	s := edgeStack(t)
	const ip, ua = "203.0.113.20", "Patient/2.0"
	_, _, h := send(t, "GET", s.public+"/landing?glp_click_id=aff-nav-1", visitor(ip, ua, navigate), "")
	if !strings.Contains(h.Get("Set-Cookie"), "_glp_cid=aff-nav-1") {
		t.Fatalf("the navigation set no cookie: %q", h.Get("Set-Cookie"))
	}
	var logged map[string]any
	for _, c := range s.settledClicks(t) {
		if c["glp_click_id"] == "aff-nav-1" {
			logged = c
		}
	}
	if logged == nil || logged["top_level"] != true || logged["ip"] != ip {
		t.Fatalf("click log entry %v: want a top-level landing from %s", logged, ip)
	}
	// The cookie is lost (another browser profile, a cleared cookie jar);
	// the same address and browser sign up.
	code, out, _ := send(t, "POST", s.public+"/glp-s2s-conversion", visitor(ip, ua, nil), `{"email":"nav@example.com"}`)
	if code != 202 {
		t.Fatalf("%d %v", code, out)
	}
	awaitConversion(t, s.mock, "aff-nav-1") // inferred at the mock: only GLP Winner's browser SDK logs clicks there
	if ev := s.settled(t, out["event_id"].(string)); ev["click_source"] != "local_match" {
		t.Errorf("event %v, want its click from the local match", ev)
	}
}

func TestTheLocalMatchIsOffByDefaultAndTheIngestTokenComesFromAFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "ingest-token")
	os.WriteFile(file, []byte("file-ingest-token-0123456789\n"), 0o600)
	s := startStack(t, "GLP_TRUSTED_PROXIES=127.0.0.0/8", "GLP_INGEST_TOKEN=", "GLP_INGEST_TOKEN_FILE="+file)
	const ip, ua = "203.0.113.25", "Patient/3.0"
	send(t, "GET", s.public+"/landing?glp_click_id=aff-off-1", visitor(ip, ua, navigate), "")
	s.settledClicks(t)
	code, out, _ := send(t, "POST", s.public+"/glp-s2s-conversion", visitor(ip, ua, nil), `{"email":"off@example.com"}`)
	if code != 202 {
		t.Fatalf("%d %v", code, out)
	}
	if ev := s.settled(t, out["event_id"].(string)); ev["click_source"] != nil {
		t.Errorf("event %v: matched with GLP_LOCAL_MATCH unset", ev)
	}
	code, out, _ = send(t, "POST", s.public+"/glp-s2s-conversion?wait=10s", map[string]string{"Authorization": "Bearer file-ingest-token-0123456789"}, `{"glpClickId":"from-file"}`)
	if code != 201 {
		t.Errorf("a server call with the token from GLP_INGEST_TOKEN_FILE: %d %v", code, out)
	}
}

func TestABrowserCallsWaitIsAnsweredAtOnceWithNoUpstreamFields(t *testing.T) {
	t.Parallel()
	s := edgeStack(t)
	// The mock answers after 2 s: a call that waited up to 30 s would get
	// its answer.
	send(t, "POST", s.mock+"/_mock/faults", nil, `{"delay":"2s","count":-1}`)
	for _, body := range []string{
		`{"glpClickId":"wait-attributed","conversion_id":"W-1"}`, // GLP Winner would answer 201
		`{"email":"stranger-victim@example.com"}`,                // would answer 422 (or 201 with the victim's click)
	} {
		code, out, _ := send(t, "POST", s.public+"/glp-s2s-conversion?wait=30s", visitor("203.0.113.30", "B/1", nil), body)
		if code != 202 || out["status"] != "queued" || out["upstream"] != nil || len(out) != 2 {
			t.Errorf("%s: %d %v, want 202 {status: queued, event_id} only", body, code, out)
		}
	}
	// A server call still waits and gets the upstream's answer.
	code, out, _ := send(t, "POST", s.public+"/glp-s2s-conversion?wait=30s", server, `{"glpClickId":"wait-server","conversion_id":"W-2"}`)
	if code != 201 || out["upstream"] == nil {
		t.Errorf("server call with ?wait=: %d %v, want 201 with the upstream's body", code, out)
	}
}

func TestABrowserCallsIPIsNotWhatReachesTheMock(t *testing.T) {
	t.Parallel()
	// always: with its click id, the default would send no ip at all.
	s := startStack(t, "GLP_TRUSTED_PROXIES=127.0.0.0/8", "GLP_LOCAL_MATCH=true", "GLP_LOG_LEVEL=warn", "GLP_SEND_PERSONAL_DATA=always")
	code, out, _ := send(t, "POST", s.public+"/glp-s2s-conversion", visitor("203.0.113.40", "B/1", nil),
		`{"glpClickId":"ip-browser","ip":"198.51.100.99"}`)
	if code != 202 {
		t.Fatalf("%d %v", code, out)
	}
	if c := awaitConversion(t, s.mock, "ip-browser"); c["ip"] != "203.0.113.40" {
		t.Errorf("the mock got ip %v, want the derived 203.0.113.40", c["ip"])
	}
	// A server call's ip is sent, unmapped.
	send(t, "POST", s.public+"/glp-s2s-conversion", server, `{"glpClickId":"ip-server","ip":"::ffff:198.51.100.98"}`)
	if c := awaitConversion(t, s.mock, "ip-server"); c["ip"] != "198.51.100.98" {
		t.Errorf("the mock got ip %v for a server call, want 198.51.100.98", c["ip"])
	}
}

func TestABrowserCallKeyedORDER9DoesNotStopTheServerCallKeyedORDER9(t *testing.T) {
	t.Parallel()
	s := edgeStack(t)
	code, out, _ := send(t, "POST", s.public+"/glp-s2s-conversion", visitor("203.0.113.50", "Attacker/1", nil),
		`{"glpClickId":"attacker-9","conversion_id":"ORDER-9"}`)
	if code != 202 {
		t.Fatalf("the stranger's call: %d %v", code, out)
	}
	code, out, _ = send(t, "POST", s.public+"/glp-s2s-conversion?wait=10s", server, `{"glpClickId":"real-9","conversion_id":"ORDER-9"}`)
	if code != 201 || out["status"] != "ok" {
		t.Fatalf("the backend's ORDER-9: %d %v, want 201 ok", code, out)
	}
	if c := awaitConversion(t, s.mock, "real-9"); c["external_id"] != "ORDER-9" {
		t.Errorf("upstream conversion %v", c)
	}
}

func TestAWrongIngestTokenIs401AndNothingReachesTheMock(t *testing.T) {
	t.Parallel()
	s := edgeStack(t)
	for _, auth := range []string{"Bearer " + testIngestToken + "x", "Bearer test-token", "Basic " + testIngestToken, "Bearer"} {
		code, out, h := send(t, "POST", s.public+"/glp-s2s-conversion?wait=5s", map[string]string{"Authorization": auth},
			`{"glpClickId":"wrong-token","email":"w@example.com","conversion_id":"WT-1"}`)
		if msg, _ := out["error"].(string); code != 401 || msg == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%q: %d %v", auth, code, out)
		}
	}
	// A good call after them is delivered: anything the refused ones had
	// stored would have gone first.
	send(t, "POST", s.public+"/glp-s2s-conversion?wait=10s", server, `{"glpClickId":"after-wrong"}`)
	awaitConversion(t, s.mock, "after-wrong")
	for _, c := range s.mockConversions(t) {
		if c["glp_click_id"] == "wrong-token" || c["external_id"] == "WT-1" {
			t.Errorf("a refused call reached the mock: %v", c)
		}
	}
	_, stats, _ := call(t, "GET", s.admin+"/admin/api/stats", "", "")
	if stats["total"] != 1.0 {
		t.Errorf("%v events stored, want 1", stats["total"])
	}
	if refused, _ := stats["refused"].(map[string]any); refused["unauthorized"] != 4.0 {
		t.Errorf("stats refused %v, want 4 unauthorized", stats["refused"])
	}
	if !strings.Contains(s.metrics(t), `glp_refused_requests_total{reason="unauthorized"} 4`) {
		t.Errorf("metrics lack the refused count")
	}
}

func TestALandingFloodFromOneAddressLeavesAHandfulWhileSixtyAddressesAreAllKept(t *testing.T) {
	t.Parallel()
	s := edgeStack(t)
	for i := 0; i < 1600; i++ {
		send(t, "GET", fmt.Sprintf("%s/?glp_click_id=flood-%d", s.public, i), visitor("203.0.113.66", "Flood/1", navigate), "")
	}
	for i := 0; i < 60; i++ {
		send(t, "GET", fmt.Sprintf("%s/?glp_click_id=single-%d", s.public, i), visitor(fmt.Sprintf("198.51.100.%d", i+1), "Single/1", navigate), "")
	}
	flood, singles := 0, map[string]bool{}
	for _, c := range s.settledClicks(t) {
		id, _ := c["glp_click_id"].(string)
		switch {
		case strings.HasPrefix(id, "flood-"):
			flood++
		case strings.HasPrefix(id, "single-"):
			singles[id] = true
		}
	}
	if flood > 12 || flood == 0 {
		t.Errorf("%d of 1,600 landings from one address logged, want a handful (a burst of 10, one a minute after)", flood)
	}
	if len(singles) != 60 {
		t.Errorf("%d of 60 single landings logged", len(singles))
	}
	if !strings.Contains(s.metrics(t), fmt.Sprintf(`glp_sidecar_clicks_dropped_total{reason="address"} %d`, 1600-flood)) {
		t.Errorf("metrics do not count %d dropped landings", 1600-flood)
	}
	if code, out, _ := call(t, "GET", s.admin+"/admin/api/clicks?limit=501", "", ""); code != 400 {
		t.Errorf("limit=501: %d %v", code, out)
	}
}

func TestBenchFloodPrintsTheAcceptRateBesideEachFlood(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "bench's load")
	cmd := sidecarCmd(t, nil, "bench", "--flood", "--connections", "4", "--duration", "2s", "--rounds", "1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if code := exitStatus(cmd.Run()); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	table := out.String()
	for _, want := range []string{"accepts/s", "no flood", "the same GETs without a click id", "landings from one address", "landings from many addresses", "click log:", "address "} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	if strings.Count(table, "none") < 4 {
		t.Errorf("accept errors under a light load:\n%s", table)
	}
}

// What Chromium itself sends: an image and a frame on another site that
// point at a landing URL plant nothing; a navigation is logged as a
// top-level landing.
func TestInChromiumAnImageOrAFrameOnAnotherSitePlantsNothingAndANavigationIsLogged(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	s := startStackInProcess(t)
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><html><body><img id="img" src="%[1]s/?glp_click_id=planted-img">
<iframe src="%[1]s/?glp_click_id=planted-frame"></iframe><p id="done">page</p></body></html>`, s.public)
	}))
	defer attacker.Close()
	attackerSite := strings.Replace(attacker.URL, "127.0.0.1", "localhost", 1) // another site than the sidecar's 127.0.0.1
	tab, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tab, chromedp.Navigate(attackerSite), chromedp.WaitVisible("#done")); err != nil {
		t.Fatal(err)
	}
	// The page's load comes once the image and the frame are answered: by
	// then the sidecar has taken (or not) whatever they planted.
	waitFor(t, func() bool {
		state, _ := chromedp.Run(tab, chromedp.Evaluate[string]("document.readyState"))
		return state == "complete"
	})
	if err := chromedp.Do(tab, chromedp.Navigate(s.public+"/landing?glp_click_id=real-nav")); err != nil {
		t.Fatal(err)
	}
	logged := map[string]any{}
	for _, c := range s.settledClicks(t) {
		logged[c["glp_click_id"].(string)] = c["top_level"]
	}
	if _, ok := logged["planted-img"]; ok {
		t.Errorf("the image logged a click: %v", logged)
	}
	if _, ok := logged["planted-frame"]; ok {
		t.Errorf("the frame logged a click: %v", logged)
	}
	if logged["real-nav"] != true {
		t.Errorf("the navigation: %v, want a top-level landing", logged)
	}
}

func TestTheDashboardShowsRefusedRequestsByReason(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	s := startStackInProcess(t)
	for i := 0; i < 3; i++ {
		send(t, "POST", s.public+"/glp-s2s-conversion", map[string]string{"Authorization": "Bearer nope"}, `{"glpClickId":"x"}`)
	}
	send(t, "POST", s.public+"/glp-s2s-conversion", nil, `{"conversion_id":"nothing"}`)
	tab, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var text, title string
	err := chromedp.Do(tab, chromedp.Navigate(s.admin+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`#refused`)))
	if err != nil {
		t.Fatal(err)
	}
	text, _ = chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#refused b`)))
	title, _ = chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("refused").title`))
	if text != "4" || !strings.Contains(title, "unauthorized: 3") || !strings.Contains(title, "nothing_to_attribute: 1") {
		t.Errorf("refused tile %q, title %q: want 4, 3 unauthorized and 1 nothing to attribute", text, title)
	}
}
