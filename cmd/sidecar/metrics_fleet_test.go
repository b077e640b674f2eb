package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/glpwinner/glp-sidecar/capture"
	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/ingest"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
)

// scrape reads a /metrics page: each family's type, and each series'
// value by its name and labels as printed.
func scrape(t *testing.T, url string) (types map[string]string, values map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	types, values = map[string]string{}, map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		values[line[:i]] = v
	}
	return types, values
}

// family is the name of a series as printed: its name without labels.
func family(series string) string {
	name, _, _ := strings.Cut(series, "{")
	return name
}

var deployCounter = regexp.MustCompile(`\bglp_[a-z0-9_]+_total\b`)

// TestAFreshSidecarExportsEveryCounterAtZero scrapes a sidecar that has
// served nothing: every counter of its own is there, each series the
// rooms can count at 0, so that rate() and increase() see the first event
// (a series born at 1 has no increase), and so is every counter the
// shipped dashboard and alerts ask for. The words admin presets are the
// rooms' own.
func TestAFreshSidecarExportsEveryCounterAtZero(t *testing.T) {
	t.Parallel()
	s := startStackInProcess(t)
	types, values := scrape(t, s.admin+"/metrics")
	counters := map[string]int{}
	for series, v := range values {
		name := family(series)
		if types[name] != "counter" || !strings.HasPrefix(name, "glp_") {
			continue
		}
		counters[name]++
		if v != 0 {
			t.Errorf("%s = %v on a fresh sidecar", series, v)
		}
	}
	for _, name := range []string{"glp_sidecar_conversions_received_total", "glp_sidecar_deliveries_total",
		"glp_refused_requests_total", "glp_sidecar_clicks_dropped_total", "glp_sidecar_wait_cap_reached_total"} {
		if counters[name] == 0 {
			t.Errorf("%s is not exported before its first event", name)
		}
	}
	var shipped []string
	for _, f := range []string{"../../deploy/prometheus/alerts.yaml", "../../deploy/grafana/glp-sidecar.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		shipped = append(shipped, deployCounter.FindAllString(string(b), -1)...)
	}
	for _, name := range shipped {
		if counters[name] == 0 {
			t.Errorf("%s, which the dashboard or the alerts ask for, is not exported from the start", name)
		}
	}
	want := map[string][]string{
		"glp_refused_requests_total":             {ingest.ReasonInvalid, ingest.ReasonUnauthorized, ingest.ReasonOrigin, ingest.ReasonTooLarge, ingest.ReasonType, ingest.ReasonNothing, ingest.ReasonRateLimited, ingest.ReasonBrowserOff, ingest.ReasonNoClickID, ingest.ReasonUncorroborated},
		"glp_sidecar_clicks_dropped_total":       {capture.DropAddress, capture.DropSameClick, capture.DropQueueFull, capture.DropOldest, capture.DropFailed},
		"glp_sidecar_conversions_received_total": ingest.Paths(),
	}
	for name, words := range want {
		for _, w := range words {
			found := false
			for series := range values {
				found = found || (family(series) == name && strings.Contains(series, `"`+w+`"`))
			}
			if !found {
				t.Errorf("%s has no series for %q at 0", name, w)
			}
		}
	}
	for _, series := range []string{`glp_sidecar_deliveries_total{outcome="delivered",status_class="2xx"}`, `glp_sidecar_deliveries_total{outcome="dead",status_class="5xx"}`,
		`glp_sidecar_conversions_received_total{endpoint="/glp-s2s-conversion",outcome="queued"}`} {
		if v, ok := values[series]; !ok || v != 0 {
			t.Errorf("%s: %v %v, want 0 from the start", series, v, ok)
		}
	}
}

// prometheusQuery asks a Prometheus's API for an instant vector.
func prometheusQuery(t *testing.T, base, query string) []promSample {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + neturl.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &out); err != nil || out.Status != "success" {
		t.Fatalf("query %s: %v %s", query, err, body)
	}
	var samples []promSample
	for _, r := range out.Data.Result {
		s, _ := r.Value[1].(string)
		v, _ := strconv.ParseFloat(s, 64)
		samples = append(samples, promSample{labels: r.Metric, value: v})
	}
	return samples
}

type promSample struct {
	labels map[string]string
	value  float64
}

// startPrometheus runs Debian's prometheus scraping targets every second
// in one job, with the shipped alert rules evaluated every second, and
// returns its URL.
func startPrometheus(t *testing.T, targets []string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no prometheus on this CI machine: .ci/run must install it (apt-get install -y prometheus)")
		}
		t.Skip("no prometheus installed (apt-get install -y prometheus)")
	}
	rules, err := filepath.Abs("../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	quoted, _ := json.Marshal(targets)
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [%q]\nscrape_configs:\n  - job_name: glp-sidecar\n    static_configs: [{targets: %s}]\n", rules, quoted)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var log lockedBuffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus's log:\n%s", log.String())
		}
	})
	base := "http://" + addr
	waitFor(t, func() bool { // prometheus has scraped both sidecars
		resp, err := http.Get(base + "/api/v1/query?query=" + neturl.QueryEscape(`count(glp_sidecar_events{state="queued"})`))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `"2"]`)
	})
	return base
}

// TestTwoReplicasCountEachEventOnceInPrometheus runs two sidecars on one
// PostgreSQL outbox, scraped by a real Prometheus in one job with the
// shipped alert rules: three events go dead and two are rejected, two
// requests are refused (one by each sidecar). The dashboard's panels show
// 3 dead, not 6, and 2 refusals (each sidecar's counter, summed, seen from
// 0); GLPSidecarDeadEvents fires once for the fleet, with 3; no alert is
// pending or firing once per sidecar.
func TestTwoReplicasCountEachEventOnceInPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("a real Prometheus for 15 s; promtool's unit tests of the rules (./deploy) run in -short")
	}
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "reject-") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":"unknown click"}`)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(upstream.Close)
	cfg := stackConfig
	cfg.APIURL, cfg.DBURL = upstream.URL, config.Secret(pgtest.URL(t))
	cfg.RetryMaxAge = 1500 * time.Millisecond
	a, b := serveInProcess(t, cfg), serveInProcess(t, cfg)
	prom := startPrometheus(t, []string{a.AdminAddr(), b.AdminAddr()})
	time.Sleep(1500 * time.Millisecond) // a scrape or two of the counters at 0 first

	for i, m := range []*Main{a, b, a, b, a} {
		click := fmt.Sprint("dead-", i)
		if i >= 3 {
			click = fmt.Sprint("reject-", i)
		}
		code, out, _ := call(t, "POST", "http://"+m.PublicAddr()+"/glp-s2s-conversion", testIngestToken, `{"glpClickId":"`+click+`","email":"p@example.com"}`)
		if code != http.StatusAccepted {
			t.Fatalf("conversion %s: %d %v", click, code, out)
		}
	}
	for _, m := range []*Main{a, b} {
		if code, _, _ := call(t, "POST", "http://"+m.PublicAddr()+"/glp-s2s-conversion", testIngestToken, `{"glpClickId":"bad id"}`); code != http.StatusBadRequest {
			t.Fatalf("a bad click id: %d, want 400", code)
		}
	}
	one := func(q string) float64 {
		t.Helper()
		s := prometheusQuery(t, prom, q)
		if len(s) != 1 {
			t.Fatalf("%s: %d series, want 1: %v", q, len(s), s)
		}
		return s[0].value
	}
	waitFor(t, func() bool { // both sidecars report 3 dead and 2 rejected events, and the dead alert fires
		return len(prometheusQuery(t, prom, `glp_sidecar_events{state="dead"} == 3`)) == 2 &&
			len(prometheusQuery(t, prom, `glp_sidecar_events{state="rejected"} == 2`)) == 2 &&
			len(prometheusQuery(t, prom, `ALERTS{alertname="GLPSidecarDeadEvents",alertstate="firing"}`)) > 0
	})
	time.Sleep(2 * time.Second) // the refusals' samples, scraped twice more

	panels := map[string]string{}
	for where, expr := range dashboardQueries(t) {
		panels[where] = strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*").Replace(expr)
	}
	if got := one(panels["Dead #A"]); got != 3 {
		t.Errorf("the Dead panel shows %v, want 3 (each event once, whatever the replicas)", got)
	}
	byState := map[string]float64{}
	for _, s := range prometheusQuery(t, prom, panels["Events by state #A"]) {
		byState[s.labels["state"]] = s.value
	}
	if byState["dead"] != 3 || byState["rejected"] != 2 {
		t.Errorf("Events by state shows %v, want dead 3 and rejected 2", byState)
	}
	if got := one(panels["Refused requests (5m) #A"]); got < 2 || got >= 3 {
		t.Errorf("the refused panel shows %v, want 2 (one refusal by each sidecar, seen from 0)", got)
	}
	for _, q := range panels {
		prometheusQuery(t, prom, q) // every panel's query runs on the fleet's series
	}
	alerts := prometheusQuery(t, prom, `ALERTS{alertname="GLPSidecarDeadEvents",alertstate="firing"}`)
	if len(alerts) != 1 {
		t.Errorf("GLPSidecarDeadEvents fires %d times, want once for the fleet: %v", len(alerts), alerts)
	}
	if v := one(`max by (job) (glp_sidecar_events{state="dead"}) > 0`); v != 3 {
		t.Errorf("the dead alert's value is %v, want 3", v)
	}
	for _, s := range prometheusQuery(t, prom, `count by (alertname, alertstate) (ALERTS) > 1`) {
		t.Errorf("%s is %s %v times: once per sidecar, not once per fleet", s.labels["alertname"], s.labels["alertstate"], s.value)
	}
}

// dashboardQueries are the Grafana dashboard's queries: "title #A" → PromQL.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/grafana/glp-sidecar.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			out[p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	return out
}

// TestAnOutboxThatRefusesWritesShowsInReadyzAndTheMetrics: a database
// turned read-only (default_transaction_read_only, as a standby after a
// failover is) fails /readyz and sets glp_sidecar_outbox_write_error, which
// GLPSidecarOutboxRefusesWrites alerts on; both clear once it takes writes.
func TestAnOutboxThatRefusesWritesShowsInReadyzAndTheMetrics(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	cfg := stackConfig
	cfg.APIURL, cfg.DBURL = serveMockInProcess(t), config.Secret(url)
	m := serveInProcess(t, cfg)
	admin := "http://" + m.AdminAddr()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	readOnly := func(on bool) {
		t.Helper()
		db := pgx.Identifier{strings.TrimPrefix(mustParse(t, url).Path, "/")}.Sanitize()
		for _, q := range []string{
			fmt.Sprintf("ALTER DATABASE %s SET default_transaction_read_only = %v", db, on),
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
		} {
			if _, err := conn.Exec(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		}
	}
	state := func() (int, float64) {
		code, _, _ := call(t, "GET", admin+"/readyz", "", "")
		_, values := scrape(t, admin+"/metrics")
		return code, values["glp_sidecar_outbox_write_error"]
	}
	if code, v := state(); code != http.StatusOK || v != 0 {
		t.Fatalf("a writable outbox: /readyz %d, write_error %v", code, v)
	}
	readOnly(true)
	waitFor(t, func() bool { code, v := state(); return code == http.StatusServiceUnavailable && v == 1 })
	readOnly(false)
	waitFor(t, func() bool { code, v := state(); return code == http.StatusOK && v == 0 })
}

func mustParse(t *testing.T, raw string) *neturl.URL {
	t.Helper()
	u, err := neturl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
