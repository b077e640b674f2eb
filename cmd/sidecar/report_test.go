package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// final posts a conversion (to path, query included) and waits, through
// the admin API, for its final state.
func (s stack) final(t *testing.T, path, body string) map[string]any {
	t.Helper()
	code, out, _ := call(t, "POST", s.public+path, "", body)
	id, _ := out["event_id"].(string)
	if code != http.StatusAccepted || id == "" {
		t.Fatalf("conversion %s: %d %v", body, code, out)
	}
	return waitState(t, s.admin, id)
}

// events0 is the id of the first event of a list answer.
func events0(list map[string]any) string {
	events, _ := list["events"].([]any)
	if len(events) == 0 {
		return ""
	}
	id, _ := events[0].(map[string]any)["id"].(string)
	return id
}

// sum adds a field over the report's days.
func sum(report map[string]any, field string) int {
	n := 0
	days, _ := report["days"].([]any)
	for _, d := range days {
		v, _ := d.(map[string]any)[field].(float64)
		n += int(v)
	}
	return n
}

func TestTheReportCountsADayExactlyAndTheCSVListsEveryEvent(t *testing.T) {
	t.Parallel()
	s := startStackInProcess(t)
	delivered := map[string]bool{} // event ids
	for _, click := range []string{"rep-1", "rep-2", "rep-3", "rep-4", "rep-dup"} {
		e := s.final(t, "/glp-s2s-conversion", `{"glpClickId":"`+click+`","conversion_id":"order-`+click+`"}`)
		if e["state"] != "delivered" {
			t.Fatalf("%s: %v", click, e)
		}
		delivered[e["id"].(string)] = true
	}
	for _, email := range []string{"nobody-1@example.com", "nobody-2@example.com"} {
		if e := s.final(t, "/glp-s2s-conversion", `{"email":"`+email+`"}`); e["state"] != "rejected" {
			t.Fatalf("%s: %v", email, e)
		}
	}
	if e := s.final(t, "/glp-s2s-conversion", `{"glpClickId":"rep-dup","conversion_id":"order-again"}`); e["state"] != "duplicate" {
		t.Fatalf("the second conversion of a click: %v", e)
	}
	if e := s.final(t, "/glp-s2s-conversion?testMode=true", `{"glpClickId":"rep-test","conversion_id":"order-test"}`); e["state"] != "delivered" || e["test"] != true {
		t.Fatalf("?testMode=true: %v", e)
	}
	// ?testMode=true reached GLP Winner as test data.
	resp, err := http.Get(s.mock + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	var held []map[string]any
	json.NewDecoder(resp.Body).Decode(&held)
	resp.Body.Close()
	glpIDs := map[string]string{} // provider's conversion id → GLP Winner's
	for _, c := range held {
		glpIDs[c["external_id"].(string)] = c["conversion_id"].(string)
		if (c["external_id"] == "order-test") != (c["test"] == true) {
			t.Errorf("held as test %v: %v", c["test"], c)
		}
	}
	if len(held) != 6 {
		t.Fatalf("the mock holds %d conversions: %v", len(held), held)
	}

	from := time.Now().UTC().Add(-time.Hour).Format("2006-01-02") // the run may straddle midnight
	to := time.Now().UTC().Format("2006-01-02")
	code, live, _ := call(t, "GET", s.admin+"/admin/api/report?from="+from+"&to="+to, "", "")
	want := map[string]int{"accepted": 8, "delivered": 5, "duplicate": 1, "rejected": 2, "unconfirmed": 0, "dead": 0, "queued": 0, "possible_double": 0}
	for field, n := range want {
		if got := sum(live, field); code != 200 || got != n {
			t.Errorf("live %s: %d, want %d (%d %v)", field, got, n, code, live)
		}
	}
	_, test, _ := call(t, "GET", s.admin+"/admin/api/report?from="+from+"&to="+to+"&test=true", "", "")
	if sum(test, "accepted") != 1 || sum(test, "delivered") != 1 {
		t.Errorf("test %v", test)
	}
	for _, bad := range []string{"from=2026-13-01", "to=yesterday", "from=2026-11-02&to=2026-11-01", "from=2020-01-01&to=2026-01-01", "tz=Mars/Olympus", "test=maybe"} {
		if code, body, _ := call(t, "GET", s.admin+"/admin/api/report?"+bad, "", ""); code != 400 || body["details"] == nil {
			t.Errorf("%s: %d %v", bad, code, body)
		}
	}

	resp, err = http.Get(s.admin + "/admin/api/report/conversions.csv?from=" + from + "&to=" + to)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("csv: %d %s", resp.StatusCode, ct)
	}
	checkCSV(t, raw, delivered, glpIDs)

	// The CLI prints the same from the file, while serve runs.
	var out bytes.Buffer
	cmd := sidecarCmd(t, []string{"GLP_DB_PATH=" + s.db}, "report", "--from", from, "--to", to, "--csv")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("sidecar report --csv: %v", err)
	}
	if !bytes.Equal(out.Bytes(), raw) {
		t.Errorf("the CLI's CSV differs from the API's:\n%s\n%s", out.Bytes(), raw)
	}
	out.Reset()
	cmd = sidecarCmd(t, []string{"GLP_DB_PATH=" + s.db}, "report", "--from", from, "--to", to, "--json")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("sidecar report --json: %v", err)
	}
	var cli map[string]any
	json.Unmarshal(out.Bytes(), &cli)
	if sum(cli, "accepted") != 8 || sum(cli, "delivered") != 5 || sum(cli, "rejected") != 2 || sum(cli, "duplicate") != 1 {
		t.Errorf("sidecar report --json: %s", out.Bytes())
	}
	out.Reset()
	cmd = sidecarCmd(t, []string{"GLP_DB_PATH=" + s.db}, "report", "--from", from, "--to", to)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "UNCONFIRMED") || !strings.Contains(out.String(), "total") {
		t.Errorf("sidecar report: %v\n%s", err, out.String())
	}
}

// checkCSV holds the CSV to SPEC's columns, one row per event (9), and
// GLP Winner's conversion id on the delivered rows.
func checkCSV(t *testing.T, raw []byte, delivered map[string]bool, glpIDs map[string]string) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "event_id,conversion_id,glp_conversion_id,glp_click_id,state,possible_double,accepted_at,finished_at,test" {
		t.Fatalf("header %q", got)
	}
	rows = rows[1:]
	if len(rows) != 9 {
		t.Fatalf("%d rows, want 9:\n%s", len(rows), raw)
	}
	states := map[string]int{}
	for _, r := range rows {
		id, conv, glp, state, test := r[0], r[1], r[2], r[4], r[8]
		states[state+"/"+test]++
		if state == "delivered" && (glp == "" || glp != glpIDs[conv]) {
			t.Errorf("delivered row without GLP Winner's conversion id %q: %v", glpIDs[conv], r)
		}
		if delivered[id] && state != "delivered" {
			t.Errorf("row %v", r)
		}
		if _, err := time.Parse(time.RFC3339Nano, r[6]); err != nil || r[7] == "" {
			t.Errorf("times %v", r)
		}
	}
	if states["delivered/false"] != 5 || states["rejected/false"] != 2 || states["duplicate/false"] != 1 || states["delivered/true"] != 1 {
		t.Errorf("rows by state: %v", states)
	}
}

func TestTheDashboardChartsTheDaysStackedByStateWithALinkToTheCSV(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	s := startStackInProcess(t)
	s.final(t, "/glp-s2s-conversion", `{"glpClickId":"chart-1","conversion_id":"C-1"}`)
	s.final(t, "/glp-s2s-conversion", `{"glpClickId":"chart-2","conversion_id":"C-2"}`)
	s.final(t, "/glp-s2s-conversion", `{"email":"nobody@example.com","conversion_id":"C-3"}`)
	// A soft match whose answer is lost: recorded, then refused as converted.
	if code, _, _ := call(t, "POST", s.mock+"/api/track/v1/session", "", `{"providerId":123,"glp_click_id":"chart-soft","email":"soft@example.com"}`); code != 201 {
		t.Fatalf("session: %d", code)
	}
	call(t, "POST", s.mock+"/_mock/faults", "", `{"drop":true,"after":true}`)
	if e := s.final(t, "/glp-s2s-conversion", `{"email":"soft@example.com","conversion_id":"C-4"}`); e["state"] != "unconfirmed" {
		t.Fatalf("a soft match's lost answer: %v", e)
	}

	tab, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	err := chromedp.Do(tab,
		chromedp.Navigate(s.admin+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS(`#report-chart rect[data-state="unconfirmed"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.tile.unconfirmed`)),
	)
	if err != nil {
		html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.OuterHTML(chromedp.CSS(`main`)))
		t.Fatalf("%v\n%s", err, html)
	}
	href, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("report-csv").getAttribute("href")`))
	if err != nil {
		t.Fatal(err)
	}
	bars, err := chromedp.Run(tab, chromedp.Evaluate[map[string]int](`Object.fromEntries([...document.querySelectorAll("#report-chart rect")].map(r => [r.dataset.state, Math.round(r.getBBox().height)]))`))
	if err != nil {
		t.Fatal(err)
	}
	shot, _ := chromedp.Run(tab, chromedp.FullScreenshot(100))
	os.WriteFile(filepath.Join(os.TempDir(), "glp-report-chart.png"), shot, 0o644)
	// Delivered (2) stands twice as tall as rejected (1) and unconfirmed (1).
	if len(bars) != 3 || bars["delivered"] < 2*bars["rejected"]-1 || bars["delivered"] > 2*bars["rejected"]+1 || bars["rejected"] != bars["unconfirmed"] || bars["rejected"] == 0 {
		t.Errorf("bars %v", bars)
	}
	if !strings.Contains(href, "/admin/api/report/conversions.csv?from=") {
		t.Fatalf("csv link %q", href)
	}
	resp, err := http.Get(s.admin + href)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := strings.Count(string(raw), "\n"); resp.StatusCode != 200 || n != 5 {
		t.Errorf("the linked CSV: %d, %d lines:\n%s", resp.StatusCode, n, raw)
	}

	// unconfirmed is apart in the metrics and the API, and retryable by hand.
	resp, err = http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`glp_sidecar_events{state="unconfirmed"} 1`, `glp_sidecar_events{state="rejected"} 1`, "glp_sidecar_events_possible_double 0",
		`glp_sidecar_deliveries_total{outcome="unconfirmed",status_class="4xx"} 1`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	_, list, _ := call(t, "GET", s.admin+"/admin/api/events?state=unconfirmed", "", "")
	if events, _ := list["events"].([]any); len(events) != 1 || events[0].(map[string]any)["may_have_landed"] != true {
		t.Errorf("?state=unconfirmed: %v", list)
	}
	unconfirmed := events0(list)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"outbox", "stats"}, []string{"unconfirmed      1", "possible double  0"}},
		{[]string{"outbox", "list", "--state", "unconfirmed"}, []string{unconfirmed, "unconfirmed"}},
		{[]string{"outbox", "show", unconfirmed}, []string{"may have landed  true", "request written, no answer read"}},
	} {
		var out bytes.Buffer
		cmd := sidecarCmd(t, []string{"GLP_DB_PATH=" + s.db}, c.args...)
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("sidecar %v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("sidecar %v lacks %q:\n%s", c.args, w, out.String())
			}
		}
	}
	if code, body, _ := call(t, "POST", s.admin+"/admin/api/events/retry?state=unconfirmed", "", ""); code != 200 || body["requeued"] != 1.0 {
		t.Errorf("retry?state=unconfirmed: %d %v", code, body)
	}
}
