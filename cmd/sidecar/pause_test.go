package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/mockglp"
)

// waitState polls the admin API until the event leaves the queue.
func waitState(t *testing.T, admin, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, one, _ := call(t, "GET", admin+"/admin/api/events/"+id, "", "")
		if e, _ := one["event"].(map[string]any); e != nil && e["state"] != "queued" {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s still queued: %v", id, one)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOneConversionRefusedWith403EndsRejectedWhileTheRelayRuns(t *testing.T) {
	t.Parallel()
	mock, err := mockglp.New(mockglp.Options{Providers: map[string]int64{"test-token": 123}})
	if err != nil {
		t.Fatal(err)
	}
	defer mock.Close()
	var refused atomic.Int32
	waf := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("drop table")) { // a WAF rule that this order's id trips
			refused.Add(1)
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "<html>Request blocked</html>")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		mock.ServeHTTP(w, r)
	}))
	defer waf.Close()
	c := start(t, serveEnv(t, "GLP_API_URL="+waf.URL, "GLP_RETRY_INITIAL=50ms", "GLP_RETRY_MAX_INTERVAL=200ms", "GLP_LOG_LEVEL=warn"), "serve")
	u := c.urls(t)
	public, admin := u[0], u[1]
	post := func(body string) string {
		_, out, _ := call(t, "POST", public+"/glp-s2s-conversion", "", body)
		id, _ := out["event_id"].(string)
		if id == "" {
			t.Fatalf("%s: %v", body, out)
		}
		return id
	}
	bad := post(`{"glpClickId":"waf-1","conversion_id":"order; drop table orders"}`)
	// Conversions keep coming, as on a live site, while the refused one is
	// probed and tried again.
	var good []string
	var e map[string]any
	for i := 0; e == nil || e["state"] == "queued"; i++ {
		if i > 400 {
			t.Fatalf("the refused conversion is still queued after %d others: %v", i, e)
		}
		good = append(good, post(fmt.Sprintf(`{"glpClickId":"ok-%d","conversion_id":"ok-%d"}`, i, i)))
		time.Sleep(50 * time.Millisecond)
		_, one, _ := call(t, "GET", admin+"/admin/api/events/"+bad, "", "")
		e, _ = one["event"].(map[string]any)
	}
	if e["state"] != "rejected" || e["last_status"] != 403.0 || !strings.Contains(e["last_error"].(string), "only this event") {
		t.Fatalf("the refused conversion: %v", e)
	}
	for _, id := range good {
		if e := waitState(t, admin, id); e["state"] != "delivered" {
			t.Errorf("%s: %v", id, e["state"])
		}
	}
	_, st, _ := call(t, "GET", admin+"/admin/api/stats", "", "")
	if mode := st["relay"].(map[string]any)["mode"]; mode != "running" {
		t.Errorf("relay %v", st["relay"])
	}
	if e := waitState(t, admin, post(`{"glpClickId":"ok-after","conversion_id":"ok-after"}`)); e["state"] != "delivered" {
		t.Errorf("after: %v", e["state"])
	}
	t.Logf("the firewall refused %d attempts of one conversion before it was rejected", refused.Load())
}

func TestAWrongTokenPausesTheRelayAndEventsStayQueued(t *testing.T) {
	t.Parallel()
	mock, err := mockglp.New(mockglp.Options{Providers: map[string]int64{"test-token": 123}})
	if err != nil {
		t.Fatal(err)
	}
	defer mock.Close()
	var probes atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		mock.ServeHTTP(w, r)
	}))
	defer up.Close()
	c := start(t, serveEnv(t, "GLP_API_URL="+up.URL, "GLP_API_TOKEN=rotated-at-glp-winner", "GLP_RETRY_INITIAL=20ms", "GLP_RETRY_MAX_INTERVAL=50ms", "GLP_LOG_LEVEL=warn"), "serve")
	u := c.urls(t)
	public, admin := u[0], u[1]
	for _, click := range []string{"tok-1", "tok-2", "tok-3"} {
		call(t, "POST", public+"/glp-s2s-conversion", "", `{"glpClickId":"`+click+`"}`)
	}
	deadline := time.Now().Add(10 * time.Second)
	var st map[string]any
	for {
		_, st, _ = call(t, "GET", admin+"/admin/api/stats", "", "")
		if st["relay"].(map[string]any)["mode"] == "paused" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Dozens of probes come at this pace within a second or two; the events
	// stay queued through them.
	for deadline := time.Now().Add(10 * time.Second); probes.Load() < 24 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := probes.Load(); n < 24 {
		t.Errorf("%d probes in 10 s of pause, want dozens", n)
	}
	_, st, _ = call(t, "GET", admin+"/admin/api/stats", "", "")
	relay := st["relay"].(map[string]any)
	states := st["states"].(map[string]any)
	if relay["mode"] != "paused" || !strings.Contains(relay["reason"].(string), "Invalid API token") || states["queued"] != 3.0 || states["rejected"] != 0.0 {
		t.Fatalf("with a wrong token: %v", st)
	}
	_, list, _ := call(t, "GET", admin+"/admin/api/events?state=queued", "", "")
	for _, e := range list["events"].([]any) {
		id := e.(map[string]any)["id"].(string)
		_, one, _ := call(t, "GET", admin+"/admin/api/events/"+id, "", "")
		if n := len(one["attempts"].([]any)); n > 1 {
			t.Errorf("%s: %d attempt rows for identical probes", id, n)
		}
	}
}
