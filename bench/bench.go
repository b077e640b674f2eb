package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	_ "github.com/mattn/go-sqlite3" // reads the outbox's timings after a run
)

// pollEvery is how often, at most, the sidecar's stats are read while it
// drains; a poller reads less often when a read is slow.
const pollEvery = 200 * time.Millisecond

// backlogConns is the backlog scenario's concurrency while it fills.
const backlogConns = 64

// Options configure a bench run.
type Options struct {
	Exe         string        // the sidecar binary
	Connections []int         // concurrency levels for the accept runs
	Duration    time.Duration // one accept run, split into Rounds
	Rounds      int           // ceiling and sidecar slices taken in turn
	Backlog     int           // events queued while the upstream is down; 0 skips the scenario
	Workers     int           // GLP_RELAY_WORKERS
	Dir         string        // where the outbox files go
	DBURL       string        // when set, each run's outbox is a schema of its own in this PostgreSQL database
	Fleet       int           // with DBURL: events drained by 1 and then 2 sidecars; 0 skips the scenario
	DataKeyFile string        // GLP_DATA_KEY_FILE of the sidecar under test: personal data sealed at rest; "" for none
	Out         io.Writer
}

// Ceiling is the machine's ceiling: a handler that decodes the same JSON
// and answers 202 without storing anything, on the same router.
func Ceiling() http.Handler { return Reference(nil) }

// Reference is the ceiling's handler that, unless store is nil, hands store
// the conversion (re-encoded) and its conversion_id before it answers:
// bench/reference serves it with the reference single writer.
func Reference(store func(key string, payload []byte) error) http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/glp-s2s-conversion", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&v); err != nil {
			http.Error(w, `{"error":"Invalid request body"}`, http.StatusBadRequest)
			return
		}
		if store != nil {
			payload, _ := json.Marshal(v)
			key, _ := v["conversion_id"].(string)
			if err := store(key, payload); err != nil {
				http.Error(w, `{"error":"not stored"}`, http.StatusServiceUnavailable)
				return
			}
		}
		id, _ := uuid.NewV7()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"status":"queued","event_id":"%s"}`+"\n", id)
	}).Methods(http.MethodPost)
	return r
}

type acceptRun struct {
	conns             int
	ceiling, sidecar  result    // the rounds' slices merged
	ratios            []float64 // sidecar/ceiling requests per second, round by round
	delivered         int
	deliveredPerSec   float64 // from each slice's start, while the relay yields to it, until the queue is empty
	drainPerSec       float64 // from each slice's end, the relay at full speed, until the queue is empty
	e2eP50, e2eP99    time.Duration
	startToReady      time.Duration
	idleRSS, peakRSS  int64
	cpuPerSec         float64 // CPU seconds per wall second while loaded
	dbBytesPerMillion float64
}

type backlogRun struct {
	n                    int
	acceptPerSec         float64
	rssWaiting           int64
	drainStart, drainEnd float64 // events per second
	drainTotal           time.Duration
	// CPU per delivered event in the drain's first and last tenth, of the
	// sidecar and of the mock: it moves far less than a rate with what else
	// the machine runs, so it tells a drain slowing as the table grows from
	// a noisy minute.
	cpuStart, cpuEnd [2]time.Duration
}

// cpuMark is the drain's progress and the CPU spent so far, when the bench looked.
type cpuMark struct {
	done int
	cpu  [2]time.Duration // the sidecar's, the mock's
}

// minCPU is the least CPU between two marks that perEvent divides: /proc
// counts CPU in 10 ms ticks, so each mark is up to a tick off, and a tenth
// of a small backlog can span a few ticks (a 5,000-event drain once read
// 1.50 × from one tenth to the other). Half a second keeps the error within 4 %.
const minCPU = 500 * time.Millisecond

// perEvent is the CPU each event cost between two marks, per process; zero,
// printed as "-", where too little CPU was spent to tell.
func perEvent(a, b cpuMark) (per [2]time.Duration) {
	if n := b.done - a.done; n > 0 {
		for i := range per {
			if spent := b.cpu[i] - a.cpu[i]; spent >= minCPU {
				per[i] = spent / time.Duration(n)
			}
		}
	}
	return per
}

// Run runs every scenario and prints the table.
func Run(ctx context.Context, o Options) error {
	mock, err := spawn(o.Exe, []string{"GLP_MOCK_LISTEN_ADDR=127.0.0.1:0", "GLP_LOG_LEVEL=error"}, "mock")
	if err != nil {
		return err
	}
	defer mock.stop()
	ceil, err := spawn(o.Exe, nil, "bench", "--serve-ceiling", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ceil.stop()

	var runs []acceptRun
	for i, c := range o.Connections {
		fmt.Fprintf(os.Stderr, "bench: %d connections, %s each against the ceiling and the sidecar…\n", c, o.Duration)
		r := acceptRun{conns: c}
		if err := r.runSidecar(ctx, o, ceil.urls[0], mock.urls[0], fmt.Sprint("run", i)); err != nil {
			return err
		}
		runs = append(runs, r)
	}
	var bl *backlogRun
	if o.Backlog > 0 {
		fmt.Fprintf(os.Stderr, "bench: a backlog of %d events while the upstream is down…\n", o.Backlog)
		if bl, err = runBacklog(ctx, o, mock); err != nil {
			return err
		}
	}
	var fl *fleetRun
	if o.DBURL != "" && o.Fleet > 0 {
		if fl, err = runFleets(ctx, o, mock.urls[0]); err != nil {
			return err
		}
	}
	report(o, runs, bl)
	reportFleet(o, fl)
	return nil
}

func sidecarEnv(o Options, mock string, db outboxDB) []string {
	env := []string{
		"GLP_PROVIDER_ID=123", "GLP_API_TOKEN=test-token", "GLP_API_URL=" + mock, db.env(),
		"GLP_LISTEN_ADDR=127.0.0.1:0", "GLP_ADMIN_ADDR=127.0.0.1:0", "GLP_RATE_LIMIT=0", "GLP_LOG_LEVEL=error",
		fmt.Sprint("GLP_RELAY_WORKERS=", o.Workers), "GLP_RETRY_INITIAL=100ms", "GLP_RETRY_MAX_INTERVAL=1s",
		// The load posts browser calls for clicks that never landed: every one
		// taken, as before corroboration, so that the figures stay comparable
		// (corroborating adds one indexed click-log read to a browser call).
		"GLP_BROWSER_CALLS=open",
	}
	if o.DataKeyFile != "" {
		env = append(env, "GLP_DATA_KEY_FILE="+o.DataKeyFile)
	}
	return env
}

// setFault sets the mock's fault (see mockglp.Fault); {} clears it.
func setFault(mock, f string) error {
	resp, err := http.Post(mock+"/_mock/faults", "application/json", strings.NewReader(f))
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// resetMock empties the mock, so that each scenario measures the sidecar and
// not what earlier scenarios left in the mock's store.
func resetMock(mock string) error {
	resp, err := http.Post(mock+"/_mock/reset", "application/json", nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// runSidecar starts a sidecar and loads it and the ceiling in turn, round by
// round: the machine's noise (a neighbour, a frequency change) drifts over
// seconds, and a ratio taken from two slices seconds apart survives it
// better than one taken from two runs a minute apart. Before each slice of
// the ceiling the sidecar has delivered everything, so that nothing of it
// runs while the ceiling is measured.
func (r *acceptRun) runSidecar(ctx context.Context, o Options, ceiling, mock, run string) error {
	if err := resetMock(mock); err != nil {
		return err
	}
	db, err := o.outbox(run)
	if err != nil {
		return err
	}
	defer db.drop()
	t0 := time.Now()
	sc, err := serveReady(ctx, o.Exe, sidecarEnv(o, mock, db))
	if err != nil {
		return err
	}
	defer sc.stop()
	public, admin := sc.urls[0], sc.urls[1]
	r.startToReady = time.Since(t0)
	time.Sleep(300 * time.Millisecond)
	r.idleRSS = sc.usage().rss
	rounds := max(1, o.Rounds)
	slice := o.Duration / time.Duration(rounds)
	var ceil, side []result
	var cpu, untilEmpty, afterSlice time.Duration
	var drained int
	for i := range rounds {
		c := load(ctx, ceiling+"/glp-s2s-conversion", fmt.Sprint(run, "ceil", i), r.conns, slice, 0)
		cpu0, start := sc.usage().cpu, time.Now()
		s := load(ctx, public+"/glp-s2s-conversion", fmt.Sprint(run, "r", i), r.conns, slice, 0)
		cpu += sc.usage().cpu - cpu0
		atEnd, err := stats(admin)
		if err != nil {
			return err
		}
		end := time.Now()
		var done time.Time
		for p := (poller{admin: admin}); ctx.Err() == nil; {
			st, at, err := p.next()
			if err == nil && st["queued"] == 0 {
				r.delivered, done = st["delivered"], at
				drained += st["delivered"] - atEnd["delivered"]
				break
			}
		}
		untilEmpty += done.Sub(start)
		afterSlice += done.Sub(end)
		ceil, side = append(ceil, c), append(side, s)
		r.ratios = append(r.ratios, s.perSecond()/c.perSecond())
	}
	r.ceiling, r.sidecar = merge(ceil), merge(side)
	r.cpuPerSec = cpu.Seconds() / r.sidecar.elapsed.Seconds()
	r.deliveredPerSec = float64(r.delivered) / untilEmpty.Seconds()
	r.drainPerSec = float64(drained) / afterSlice.Seconds()
	r.peakRSS = sc.usage().peakRSS
	if err := sc.stop(); err != nil {
		return fmt.Errorf("sidecar: %v: %s", err, sc.stderr.String())
	}
	r.e2eP50, r.e2eP99, r.dbBytesPerMillion, err = outboxFigures(db)
	return err
}

// ratio is the sidecar's requests per second as a share of the ceiling's:
// the median of the rounds' ratios.
func (r acceptRun) ratio() float64 {
	s := slices.Clone(r.ratios)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// outboxFigures reads accept→delivered latencies and the file's size per
// million events from a stopped sidecar's outbox.
func outboxFigures(d outboxDB) (p50, p99 time.Duration, perMillion float64, err error) {
	db, err := d.open()
	if err != nil {
		return 0, 0, 0, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT finished_at - created_at FROM events WHERE state IN ('delivered', 'duplicate')`)
	if err != nil {
		return 0, 0, 0, err
	}
	defer rows.Close()
	var lat []int64
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			return 0, 0, 0, err
		}
		lat = append(lat, ms)
	}
	if len(lat) == 0 {
		return 0, 0, 0, errors.New("no event was delivered")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	size := d.size(db)
	return time.Duration(lat[len(lat)/2]) * time.Millisecond, time.Duration(lat[len(lat)*99/100]) * time.Millisecond,
		float64(size) / float64(len(lat)) * 1e6, rows.Err()
}

func runBacklog(ctx context.Context, o Options, mockProc *proc) (*backlogRun, error) {
	mock := mockProc.urls[0]
	if err := resetMock(mock); err != nil {
		return nil, err
	}
	if err := setFault(mock, `{"status":503,"count":-1}`); err != nil {
		return nil, err
	}
	defer setFault(mock, `{}`)
	db, err := o.outbox("backlog")
	if err != nil {
		return nil, err
	}
	defer db.drop()
	sc, err := serveReady(ctx, o.Exe, sidecarEnv(o, mock, db))
	if err != nil {
		return nil, err
	}
	defer sc.stop()
	public, admin := sc.urls[0], sc.urls[1]
	b := &backlogRun{n: o.Backlog}
	res := load(ctx, public+"/glp-s2s-conversion", "backlog", backlogConns, time.Hour, int64(o.Backlog))
	b.acceptPerSec = res.perSecond()
	time.Sleep(2 * time.Second)
	b.rssWaiting = sc.usage().rss

	if err := setFault(mock, `{}`); err != nil {
		return nil, err
	}
	start := time.Now()
	mark := func(done int) cpuMark { return cpuMark{done, [2]time.Duration{sc.usage().cpu, mockProc.usage().cpu}} }
	// The first mark past the first tenth and the last before the last
	// tenth: each window holds at least a tenth of the events, and its CPU
	// is divided by the events done in it.
	tenth := max(1, res.n/10)
	begin := mark(0)
	firstEnd, lastBegin := begin, begin
	for p := (poller{admin: admin}); ctx.Err() == nil; {
		s, _, err := p.next()
		if err != nil {
			return nil, err
		}
		m := mark(res.n - s["queued"])
		if firstEnd.done < tenth {
			firstEnd = m
		}
		if m.done <= res.n-tenth {
			lastBegin = m
		}
		if s["queued"] == 0 {
			b.cpuStart, b.cpuEnd = perEvent(begin, firstEnd), perEvent(lastBegin, m)
			break
		}
	}
	if err := sc.stop(); err != nil {
		return nil, fmt.Errorf("sidecar: %v: %s", err, sc.stderr.String())
	}
	// The rates come from the events' own finishing times, not from the
	// moments the bench happened to look.
	first, firstTenth, lastTenth, last, err := drainTimes(db, res.n, tenth)
	if err != nil {
		return nil, err
	}
	b.drainTotal = last.Sub(start)
	b.drainStart = float64(tenth) / firstTenth.Sub(first).Seconds()
	b.drainEnd = float64(tenth) / last.Sub(lastTenth).Seconds()
	return b, nil
}

// drainTimes reads from a drained outbox of n events when the first event
// finished, the last of the first tenth (tenth events), the first of the
// last tenth, and the last: the same tenth the drain's CPU marks use.
func drainTimes(d outboxDB, n, tenth int) (first, firstTenth, lastTenth, last time.Time, err error) {
	db, err := d.open()
	if err != nil {
		return
	}
	defer db.Close()
	var at [4]int64
	for i, k := range []int{0, tenth - 1, n - tenth, n - 1} {
		if err = db.QueryRow(d.finishedAt(k)).Scan(&at[i]); err != nil {
			return first, firstTenth, lastTenth, last, fmt.Errorf("the drained outbox: %w", err)
		}
	}
	return time.UnixMilli(at[0]), time.UnixMilli(at[1]), time.UnixMilli(at[2]), time.UnixMilli(at[3]), nil
}

func report(o Options, runs []acceptRun, bl *backlogRun) {
	w := o.Out
	host, _ := os.Hostname()
	fmt.Fprintf(w, "glp-sidecar bench · %s · %d cores · %s %s/%s · %s\n", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	where := "a SQLite file (GLP_DB_PATH)"
	if o.DBURL != "" {
		where = "PostgreSQL (GLP_DB_URL), a schema of its own per run"
	}
	fmt.Fprintf(w, "outbox: %s\n", where)
	fmt.Fprintf(w, "load: %s per run in %d rounds of the ceiling, then the sidecar, then its queue emptied; keep-alive connections from this process, ~200-byte JSON bodies; relay workers: %d\n\n",
		o.Duration, max(1, o.Rounds), o.Workers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	for _, r := range runs {
		row(fmt.Sprintf("accept, %d connections", r.conns), "ceiling", "sidecar", "sidecar/ceiling", "target")
		target := "≥ 0.60"
		if o.DBURL != "" {
			target = "≥ 0.20" // issue 22: PostgreSQL on the same 2 cores
		}
		row("requests/s", num(r.ceiling.perSecond()), num(r.sidecar.perSecond()), fmt.Sprintf("%.2f", r.ratio()), target)
		row("requests/s ratio by round (median above)", "", "", rounds(r.ratios), "")
		row("p50 latency", ms(r.ceiling.percentile(0.5)), ms(r.sidecar.percentile(0.5)), ratio(float64(r.sidecar.percentile(0.5)), float64(r.ceiling.percentile(0.5))), "")
		row("p99 latency", ms(r.ceiling.percentile(0.99)), ms(r.sidecar.percentile(0.99)), ratio(float64(r.sidecar.percentile(0.99)), float64(r.ceiling.percentile(0.99))), "≤ 2.00")
		row("max latency", ms(r.ceiling.max()), ms(r.sidecar.max()), "", "")
		row("errors", r.ceiling.errorText(), r.sidecar.errorText(), "", "")
		row("delivered/s (from each slice's start until the queue is empty)", "", num(r.deliveredPerSec), "", "≥ 5,000")
		row("delivered/s after each slice (the relay at full speed)", "", num(r.drainPerSec), "", "")
		row("accept→delivered p50 / p99", "", ms(r.e2eP50)+" / "+ms(r.e2eP99), "", "")
		row("sidecar CPU (cores busy)", "", fmt.Sprintf("%.2f", r.cpuPerSec), "", "")
		row("sidecar peak RSS / idle RSS", "", mb(r.peakRSS)+" / "+mb(r.idleRSS), "", "idle ≤ 30 MB")
		row("start to ready", "", ms(r.startToReady), "", "≤ 200 ms")
		row("outbox size per million events", "", mb(int64(r.dbBytesPerMillion)), "", "")
		row("", "", "", "", "")
	}
	if bl != nil {
		row(fmt.Sprintf("backlog of %s events, upstream down then back", num(float64(bl.n))), "", "sidecar", "end/start", "target")
		// The same 64 connections as the first accept run, with no delivery
		// competing for the cores: the ingest path's own share of the ceiling.
		vs := ""
		for _, r := range runs {
			if r.conns == backlogConns {
				vs = ratio(bl.acceptPerSec, r.ceiling.perSecond()) + " of the ceiling"
			}
		}
		row(fmt.Sprintf("accepted/s while the upstream is down (%d connections)", backlogConns), "", num(bl.acceptPerSec), vs, "")
		row("RSS while the backlog waits", "", mb(bl.rssWaiting), "", "≤ 100 MB")
		row("drain rate, first 10%", "", num(bl.drainStart)+"/s", "", "")
		row("drain rate, last 10%", "", num(bl.drainEnd)+"/s", ratio(bl.drainEnd, bl.drainStart), "≥ 0.90")
		for i, who := range []string{"sidecar", "mock"} {
			endStart := "-"
			if bl.cpuStart[i] > 0 && bl.cpuEnd[i] > 0 {
				endStart = ratio(float64(bl.cpuEnd[i]), float64(bl.cpuStart[i]))
			}
			row(who+" CPU per event, first / last 10%", "", usec(bl.cpuStart[i])+" / "+usec(bl.cpuEnd[i]), endStart, "")
		}
		row("drained in", "", bl.drainTotal.Round(100*time.Millisecond).String(), "", "")
	}
	tw.Flush()
}

func rounds(ratios []float64) string {
	s := make([]string, len(ratios))
	for i, r := range ratios {
		s[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(s, " ")
}

func num(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// usec prints a duration in microseconds, and zero, a figure not measured, as "-".
func usec(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func reportFleet(o Options, f *fleetRun) {
	if f == nil {
		return
	}
	tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	row(fmt.Sprintf("fleet on PostgreSQL: %s events queued while the upstream is down, then drained", num(float64(f.n))), "1 sidecar", "2 sidecars", "2/1")
	row("delivered/s (first event finished to last)", num(f.rates[0]), num(f.rates[1]), ratio(f.rates[1], f.rates[0]))
	tw.Flush()
}
