package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/admin"
)

// promtool runs Prometheus's rule checker; it is Debian's prometheus
// package. Without it the test skips, unless CI is set: CI must run it.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no promtool on this CI machine: .ci/run must install it (apt-get install -y prometheus)")
		}
		t.Skip("no promtool installed (apt-get install -y prometheus); skipping the rule checks")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestTheAlertRulesAreValidAndFireWhenTheirUnitTestsSay(t *testing.T) {
	promtool(t, "check", "rules", "prometheus/alerts.yaml")
	promtool(t, "test", "rules", "prometheus/alerts_test.yaml")
}

// emptyOutbox is an outbox with no events; runningRelay a relay that runs.
type (
	emptyOutbox  struct{}
	runningRelay struct{}
)

func (emptyOutbox) Stats(context.Context) (sidecar.Stats, error) {
	return sidecar.Stats{States: map[sidecar.State]int{}}, nil
}

// Writable and LastWriteError: the empty outbox takes writes.
func (emptyOutbox) Writable(context.Context) error { return nil }
func (emptyOutbox) LastWriteError() error          { return nil }

func (runningRelay) Status() sidecar.RelayStatus {
	return sidecar.RelayStatus{Mode: sidecar.RelayRunning}
}

// exposed is every series name a real sidecar's /metrics shows once each
// metric has been observed, with the histograms' _bucket, _sum and _count.
func exposed(t *testing.T) map[string]bool {
	t.Helper()
	m := admin.NewMetrics(nil)
	m.Watch(emptyOutbox{}, runningRelay{})
	m.Received("/glp-s2s-conversion", "queued")
	m.Attempted("delivered", 201, time.Millisecond)
	m.Committed(1, time.Millisecond)
	m.Refused("invalid_body")
	m.ClicksDropped("address", 1)
	m.Instrument("public")(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	names := map[string]bool{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			if f[3] == "histogram" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[f[2]+s] = true
				}
			}
		}
	}
	return names
}

// dashboardExprs is every query of the Grafana dashboard: panel → PromQL.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	raw, err := os.ReadFile("grafana/glp-sidecar.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana/glp-sidecar.json: %v", err)
	}
	exprs := map[string]string{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q asks nothing", p.Title)
		}
		for i, tg := range p.Targets {
			exprs["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	return exprs
}

// TestTheDashboardsQueriesAreValidPromQL has promtool parse each panel's
// query, as a recording rule, with Grafana's variables filled in.
func TestTheDashboardsQueriesAreValidPromQL(t *testing.T) {
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	i := 0
	for _, expr := range dashboardExprs(t) {
		expr = strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*").Replace(expr)
		q, _ := json.Marshal(expr)
		fmt.Fprintf(&rules, "      - record: dashboard:panel%d\n        expr: %s\n", i, q)
		i++
	}
	file := filepath.Join(t.TempDir(), "dashboard.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", file)
}

var (
	seriesName = regexp.MustCompile(`\bglp_[a-z0-9_]+`)
	stateLabel = regexp.MustCompile(`state=\\?"([a-z_]+)\\?"`)
	modeLabel  = regexp.MustCompile(`mode=\\?"([a-z_]+)\\?"`)
)

func TestTheDashboardAndTheAlertsAskForWhatTheSidecarExposes(t *testing.T) {
	names := exposed(t)
	states := map[string]bool{}
	for _, s := range sidecar.States() {
		states[string(s)] = true
	}
	modes := map[string]bool{string(sidecar.RelayRunning): true, string(sidecar.RelayBackingOff): true, string(sidecar.RelayPaused): true}

	exprs := dashboardExprs(t)
	rules, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr: "); ok {
			exprs["rule "+expr] = expr
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions found", len(exprs))
	}
	for where, expr := range exprs {
		used := seriesName.FindAllString(expr, -1)
		if len(used) == 0 {
			t.Errorf("%s: %q names no glp_ series", where, expr)
		}
		for _, n := range used {
			if !names[n] {
				t.Errorf("%s: %s is not a series the sidecar exposes", where, n)
			}
		}
		for _, m := range stateLabel.FindAllStringSubmatch(expr, -1) {
			if !states[m[1]] {
				t.Errorf("%s: state %q is not an event state", where, m[1])
			}
		}
		for _, m := range modeLabel.FindAllStringSubmatch(expr, -1) {
			if !modes[m[1]] {
				t.Errorf("%s: mode %q is not a relay mode", where, m[1])
			}
		}
	}
}

// TestTheDocsNameOnlyMetricsTheSidecarExposes reads every glp_ series name in
// the README and docs/ (a name that ends in _ is a prefix) and every state and
// relay mode a doc's PromQL asks for.
func TestTheDocsNameOnlyMetricsTheSidecarExposes(t *testing.T) {
	names := exposed(t)
	pages, _ := filepath.Glob("../docs/*.md")
	pages = append(pages, "../README.md")
	found := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range seriesName.FindAllString(string(b), -1) {
			if !strings.HasPrefix(n, "glp_sidecar_") && !strings.HasSuffix(n, "_total") {
				continue // glp_click_id, glp_admin, …: not series
			}
			found++
			if !strings.HasSuffix(n, "_") && !names[n] {
				t.Errorf("%s names %s, which the sidecar does not expose", page, n)
			}
		}
	}
	if found < 10 {
		t.Fatalf("only %d metric names found in the docs", found)
	}
}
