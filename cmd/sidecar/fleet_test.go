package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/mockglp"
	"github.com/glpwinner/glp-sidecar/postgres"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// countingUpstream is the mock GLP Winner behind a handler that counts the
// POSTs of each click id and catches two of them in flight at once: two
// sidecars sending one event at the same time.
type countingUpstream struct {
	mock *mockglp.Server
	srv  *httptest.Server

	mu       sync.Mutex
	inFlight map[string]int
	posts    map[string]int
	overlaps []string
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	t.Helper()
	mock, err := mockglp.New(mockglp.Options{Providers: map[string]int64{"test-token": 123}})
	if err != nil {
		t.Fatal(err)
	}
	u := &countingUpstream{mock: mock, inFlight: map[string]int{}, posts: map[string]int{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/conversion") {
			mock.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var c struct {
			ClickID string `json:"transaction_id"`
		}
		json.Unmarshal(body, &c)
		u.mu.Lock()
		u.posts[c.ClickID]++
		if u.inFlight[c.ClickID]++; u.inFlight[c.ClickID] > 1 {
			u.overlaps = append(u.overlaps, c.ClickID)
		}
		u.mu.Unlock()
		defer func() { u.mu.Lock(); u.inFlight[c.ClickID]--; u.mu.Unlock() }()
		r.Body = io.NopCloser(bytes.NewReader(body))
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// recorded counts the conversions the mock recorded per click id.
func (u *countingUpstream) recorded(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get(u.srv.URL + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var convs []struct {
		ClickID string `json:"glp_click_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&convs); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, c := range convs {
		per[c.ClickID]++
	}
	return per
}

// fleetEnv is a sidecar of a fleet on the database at url.
func fleetEnv(t *testing.T, url, upstream string, extra ...string) []string {
	return serveEnv(t, append([]string{"GLP_DB_URL=" + url, "GLP_API_URL=" + upstream, "GLP_REQUEST_TIMEOUT=1s",
		"GLP_RETRY_INITIAL=50ms", "GLP_RETRY_MAX_INTERVAL=500ms", "GLP_LOG_LEVEL=warn", "GLP_RATE_LIMIT=0"}, extra...)...)
}

// postJSON posts body to url as a backend's server call (the ingest token:
// ?wait= is a server call's) and returns the status, the Retry-After header
// and the decoded answer.
func postJSON(t *testing.T, url, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := newJSONRequest(url, testIngestToken, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("Retry-After"), out
}

// waitDrained opens the fleet's store and waits until nothing is queued.
func waitDrained(t *testing.T, store sidecar.Store, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := store.Stats(context.Background())
		if err == nil && st.States[sidecar.StateQueued] == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still queued after %s: %v %v", within, st.States, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func openFleetStore(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two sidecars on one database are one outbox: a key accepted by one is a
// duplicate at the other, naming the first event; a landing captured by one
// is in the click log the other shows; a conversion accepted by one is
// delivered by the fleet.
func TestTwoSidecarsOnOneDatabaseShareKeysAndClicks(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	up := newCountingUpstream(t)
	a := start(t, fleetEnv(t, url, up.srv.URL), "serve").urls(t)
	b := start(t, fleetEnv(t, url, up.srv.URL), "serve").urls(t)

	status, _, first := postJSON(t, a[0]+"/glp-s2s-conversion", `{"glpClickId":"fleet-click","conversion_id":"order-1"}`)
	if status != http.StatusAccepted {
		t.Fatalf("at the first sidecar: %d %v", status, first)
	}
	status, _, again := postJSON(t, b[0]+"/glp-s2s-conversion", `{"glpClickId":"fleet-click","conversion_id":"order-1"}`)
	if status != http.StatusOK || again["status"] != "duplicate" || again["event_id"] != first["event_id"] {
		t.Fatalf("the same key at the second sidecar: %d %v; want 200 duplicate of %v", status, again, first["event_id"])
	}

	resp, err := httpClient.Get(a[0] + "/landing?glp_click_id=landed-at-a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The click log writes its landings in batches, off the request's path.
	var raw []byte
	found := false
	for deadline := time.Now().Add(5 * time.Second); !found && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err = httpClient.Get(b[1] + "/admin/api/clicks?limit=10")
		if err != nil {
			t.Fatal(err)
		}
		var wrapped struct {
			Clicks []sidecar.Click `json:"clicks"`
		}
		raw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		json.Unmarshal(raw, &wrapped)
		for _, c := range wrapped.Clicks {
			found = found || c.ClickID == "landed-at-a"
		}
	}
	if !found {
		t.Errorf("the second sidecar's click log lacks the landing captured by the first: %s", raw)
	}

	waitDrained(t, openFleetStore(t, url), 30*time.Second)
	if n := up.recorded(t)["fleet-click"]; n != 1 {
		t.Errorf("the conversion was recorded %d times upstream, want once", n)
	}
}

// Under load from both sidecars, with one SIGKILLed and restarted, every
// acknowledged event reaches the upstream once and ends delivered (one
// resent after the kill too: its first attempt may have landed, so GLP
// Winner's 200 duplicate names its own record), and no event is ever sent by
// two sidecars at the same time: the upstream counts POSTs in flight per
// click id (answers are slowed to 40 ms so that a double claim would show).
func TestAFleetUnderLoadWithASIGKILLDeliversEveryAcknowledgedEventOnce(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "the fleet's crash test")
	url := pgtest.URL(t)
	up := newCountingUpstream(t)
	up.mock.SetFault(mockglp.Fault{Delay: mockglp.Duration(40 * time.Millisecond), Count: -1})
	env := fleetEnv(t, url, up.srv.URL)
	a, b := start(t, env, "serve"), start(t, env, "serve")
	bases := []string{a.url(t), b.url(t)}

	var mu sync.Mutex
	acked := map[string]string{} // click id → event id
	var sent atomic.Int64
	load := func(round int, bases []string, d time.Duration) {
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; time.Now().Before(stop); i++ {
					click := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					sent.Add(1)
					if id, ok := postConversion(bases[(w+i)%len(bases)], click); ok {
						mu.Lock()
						acked[click] = id
						mu.Unlock()
					}
				}
			}(w)
		}
		wg.Wait()
	}
	done := make(chan struct{})
	go func() { defer close(done); load(0, bases, 1500*time.Millisecond) }()
	time.Sleep(700 * time.Millisecond)
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	<-done
	a = start(t, env, "serve")
	bases[0] = a.url(t)
	load(1, bases, time.Second)

	store := openFleetStore(t, url)
	waitDrained(t, store, 60*time.Second)
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	recorded := up.recorded(t)
	resent := 0
	for click, id := range acked {
		e, _, err := store.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("acknowledged %s (%s): %v", click, id, err)
		}
		if e.State != sidecar.StateDelivered {
			t.Errorf("%s (%s): %s, want delivered", id, click, e.State)
		}
		if recorded[click] != 1 {
			t.Errorf("%s recorded %d times upstream", click, recorded[click])
		}
		up.mu.Lock()
		if up.posts[click] > 1 {
			resent++
		}
		up.mu.Unlock()
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.overlaps) > 0 {
		t.Errorf("%d events were sent by two sidecars at once: %v", len(up.overlaps), up.overlaps[:min(5, len(up.overlaps))])
	}
	t.Logf("%d sent, %d acknowledged by two sidecars with one SIGKILLed; %d sent again after the kill; %d in flight twice", sent.Load(), len(acked), resent, len(up.overlaps))
}

// PostgreSQL stopped in the middle of a load: the sidecar answers 503 with
// a Retry-After, a refused conversion leaves no row, and once PostgreSQL is
// back the sidecar takes and delivers conversions without a restart. (An
// event delivered while the database was down could not be recorded; its
// lease runs out, so its first attempt may have landed, and it is sent
// again: GLP Winner's 200 duplicate then ends it delivered.)
func TestPostgreSQLStoppedMidLoadGives503sAndTheSidecarRecovers(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "a PostgreSQL cluster of its own, stopped and started")
	cluster := pgtest.Own(t)
	url := cluster.Database(t)
	up := newCountingUpstream(t)
	sc := start(t, fleetEnv(t, url, up.srv.URL), "serve")
	base := sc.url(t)

	acked, refused := map[string]bool{}, map[string]bool{}
	var mu sync.Mutex
	post := func(click string) int {
		status, retryAfter, _ := postJSON(t, base+"/glp-s2s-conversion", `{"glpClickId":"`+click+`","conversion_id":"`+click+`"}`)
		mu.Lock()
		defer mu.Unlock()
		switch status {
		case http.StatusAccepted:
			acked[click] = true
		case http.StatusServiceUnavailable:
			refused[click] = true
			if retryAfter == "" {
				t.Errorf("503 without Retry-After for %s", click)
			}
		default:
			t.Errorf("%s: %d", click, status)
		}
		return status
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				post(fmt.Sprintf("w%d-%d", w, i))
			}
		}(w)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(refused) == 0 || len(acked) == 0 {
		t.Fatalf("%d acknowledged, %d refused: want both", len(acked), len(refused))
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; post(fmt.Sprintf("after-%d", i)) != http.StatusAccepted; i++ {
		if time.Now().After(deadline) {
			t.Fatal("still refusing 30 s after PostgreSQL came back")
		}
		time.Sleep(100 * time.Millisecond)
	}

	store := openFleetStore(t, url)
	waitDrained(t, store, 60*time.Second)
	events, err := store.List(context.Background(), "", "", sidecar.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	for before := ""; len(events) > 0; {
		for _, e := range events {
			switch click := e.Conversion.ClickID; {
			case refused[click]:
				t.Errorf("%s was answered 503 but stored", click)
			case !acked[click]:
				t.Errorf("%s is stored but was never acknowledged", click)
			case e.State != sidecar.StateDelivered:
				t.Errorf("%s: %s, want delivered", click, e.State)
			}
			delete(acked, e.Conversion.ClickID)
			before = e.ID
		}
		if events, err = store.List(context.Background(), "", before, sidecar.MaxListLimit); err != nil {
			t.Fatal(err)
		}
	}
	for click := range acked {
		t.Errorf("%s was acknowledged but is not stored", click)
	}
	sc.cmd.Process.Signal(syscall.SIGTERM)
	sc.cmd.Wait()
	if strings.Contains(sc.stderr.String(), pgtest.Password) {
		t.Error("the sidecar's log shows the database password")
	}
	t.Logf("%d refused with 503 while PostgreSQL was down, none stored; every acknowledged one delivered after it came back", len(refused))
}

func TestABadDatabaseURLExitsTwoNamingTheVariableNotItsValue(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"mysql://user:hunter2@db/glp", "postgres://user:hunter2@/glp", "postgres://user:hunter2@db:port/glp"} {
		cmd := sidecarCmd(t, serveEnv(t, "GLP_DB_URL="+raw), "serve")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if code := exitStatus(cmd.Run()); code != 2 {
			t.Fatalf("%s: exit %d, want 2: %s", raw, code, stderr.String())
		}
		line := strings.TrimSpace(stderr.String())
		if strings.Count(line, "\n") > 0 || !strings.Contains(line, "GLP_DB_URL") || strings.Contains(line, "hunter2") {
			t.Errorf("stderr %q: want one line naming GLP_DB_URL without the password", line)
		}
	}
}

// The operator's commands read and change the fleet's outbox with
// --db-url, as they do the file with --db.
func TestTheOutboxCommandsWorkOnTheFleetsDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	store := openFleetStore(t, url)
	a, err := store.Append(context.Background(), sidecar.NewEvent{Key: "k1", Conversion: sidecar.Conversion{ClickID: "cli-click", Email: "pat@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	store.Claim(context.Background(), 1, time.Minute)
	store.Record(context.Background(), sidecar.Result{EventID: a.ID, State: sidecar.StateDead, Attempt: sidecar.Attempt{N: 1, Outcome: "dead"}})

	out, err := sidecarCmd(t, nil, "outbox", "stats", "--db-url", url, "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("stats: %v: %s", err, out)
	}
	var st sidecar.Stats
	if err := json.Unmarshal(out, &st); err != nil || st.States[sidecar.StateDead] != 1 {
		t.Errorf("stats: %s %v; want one dead event", out, err)
	}
	out, err = sidecarCmd(t, []string{"GLP_DB_URL=" + url}, "outbox", "show", a.ID).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cli-click") {
		t.Errorf("show through GLP_DB_URL: %v: %s", err, out)
	}
	out, err = sidecarCmd(t, nil, "outbox", "retry", "--state", "dead", "--db-url", url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "requeued 1") {
		t.Errorf("retry: %v: %s", err, out)
	}
	if e, _, _ := store.Get(context.Background(), a.ID); e.State != sidecar.StateQueued {
		t.Errorf("after the retry: %s", e.State)
	}

	// The reconciliation report counts the fleet's events, by --db-url or GLP_DB_URL.
	day := time.Now().UTC().Format(sidecar.DayLayout)
	out, err = sidecarCmd(t, nil, "report", "--db-url", url, "--from", day, "--to", day, "--json").CombinedOutput()
	var report struct{ Days []sidecar.ReportDay }
	if err != nil || json.Unmarshal(out, &report) != nil || len(report.Days) != 1 || report.Days[0].Accepted != 1 || report.Days[0].Queued != 1 {
		t.Errorf("report --db-url: %v: %s; want one queued event today", err, out)
	}
	out, err = sidecarCmd(t, []string{"GLP_DB_URL=" + url}, "report", "--csv").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"`+a.ID+`","","","cli-click","queued","false",`) {
		t.Errorf("report --csv through GLP_DB_URL: %v: %s", err, out)
	}
	if out, err = sidecarCmd(t, nil, "report", "--db-url", "mysql://u:hunter2@h/db").CombinedOutput(); err == nil || strings.Contains(string(out), "hunter2") {
		t.Errorf("report with a bad --db-url: %v: %s; want an error that does not repeat the password", err, out)
	}
}

// sidecar bench --db-url prints the same table as for the file, its
// outbox on PostgreSQL (a schema per run, dropped after it), and the
// fleet's delivery rate with one and two sidecars.
func TestBenchOnPostgreSQLPrintsTheSameTableAndTheFleetRow(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "bench's load")
	url := pgtest.URL(t)
	cmd := sidecarCmd(t, nil, "bench", "--db-url", url, "--connections", "4", "--duration", "1s", "--rounds", "2", "--backlog", "300", "--fleet", "400")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if code := exitStatus(cmd.Run()); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	table := out.String()
	for _, want := range []string{"outbox: PostgreSQL", "accept, 4 connections", "requests/s", "sidecar/ceiling", "delivered/s", "start to ready",
		"backlog of 300 events", "drain rate, last 10%", "fleet on PostgreSQL", "1 sidecar", "2 sidecars"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table+errb.String(), passwordOf(t, url)) {
		t.Error("the bench shows the database password")
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left, tables int
	conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'glp_bench_%'`).Scan(&left)
	conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables)
	if left != 0 || tables != 0 {
		t.Errorf("the bench left %d schemas of its runs, and %d tables in the database's own schema", left, tables)
	}
}

// Moving a SQLite sidecar to PostgreSQL: sidecar outbox migrate copies the
// file's events with their ids, keys and states; the queued ones are the
// fleet's to deliver, a key accepted before the move is still a duplicate
// after it, and a second run copies nothing. While a sidecar still
// delivers from the file, it refuses.
func TestOutboxMigrateCopiesTheFilesEventsToPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	file, err := sqlite.Open(sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 3; i++ {
		a, err := file.Append(ctx, sidecar.NewEvent{Key: fmt.Sprint("order-", i), Conversion: sidecar.Conversion{ClickID: fmt.Sprint("click-", i), Email: "pat@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	leased, _ := file.Claim(ctx, 1, time.Hour)         // the oldest, as a running sidecar would hold it
	crashed, _ := file.Claim(ctx, 1, time.Millisecond) // the next, as a sidecar that crashed sending it left it
	time.Sleep(5 * time.Millisecond)
	url := pgtest.URL(t)
	migrate := func() (string, error) {
		out, err := sidecarCmd(t, nil, "outbox", "migrate", "--db", path, "--to", url).CombinedOutput()
		return string(out), err
	}
	if out, err := migrate(); err == nil || !strings.Contains(out, "stop that sidecar first") {
		t.Fatalf("migrate while an event is leased: %v: %s", err, out)
	}
	file.Record(ctx, sidecar.Result{EventID: leased[0].ID, State: sidecar.StateDelivered, Upstream: sidecar.Upstream{ConversionID: "glp-1"}, PossibleDouble: true,
		Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered", MayHaveLanded: true}})
	file.Close()

	out, err := migrate()
	if err != nil || !strings.Contains(out, "copied 3") {
		t.Fatalf("migrate: %v: %s", err, out)
	}
	if strings.Contains(out, passwordOf(t, url)) {
		t.Errorf("migrate shows the password: %s", out)
	}
	pg := openFleetStore(t, url)
	for i, id := range ids {
		e, _, err := pg.Get(ctx, id)
		want := sidecar.StateQueued
		if id == leased[0].ID {
			want = sidecar.StateDelivered
		}
		if err != nil || e.State != want || e.Key != fmt.Sprint("order-", i) || e.Conversion.ClickID != fmt.Sprint("click-", i) {
			t.Errorf("event %s in PostgreSQL: %+v %v; want %s", id, e, err, want)
		}
		if id == leased[0].ID && (e.Upstream.ConversionID != "glp-1" || e.FinishedAt.IsZero() || !e.PossibleDouble || e.Landed != 1) {
			t.Errorf("the delivered event lost its answer or its accounting: %+v", e)
		}
	}
	if e, _, _ := pg.Get(ctx, crashed[0].ID); e.Landed != 1 {
		t.Errorf("the event whose lease a crash left has %d attempts that may have landed in PostgreSQL, want 1", e.Landed)
	}
	dup, err := pg.Append(ctx, sidecar.NewEvent{Key: "order-0", Conversion: sidecar.Conversion{ClickID: "click-0"}})
	if err != nil || !dup.Duplicate || dup.ID != ids[0] {
		t.Errorf("a key accepted before the move: %+v %v; want a duplicate of %s", dup, err, ids[0])
	}
	claimed, err := pg.Claim(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 2 {
		t.Errorf("the fleet claims %d of the moved events, want the 2 queued ones: %v", len(claimed), err)
	}
	if out, err := migrate(); err != nil || !strings.Contains(out, "copied 0") {
		t.Errorf("a second run: %v: %s", err, out)
	}
}

// passwordOf is the password in a database URL, which no output may show.
func passwordOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := neturl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := u.User.Password()
	if !ok || p == "" {
		t.Fatalf("the test database's URL has no password")
	}
	return p
}

// ?wait= at one sidecar answers with the upstream's answer even when
// another sidecar of the fleet delivers the event: here the first one's
// only relay worker and its claims are stuck on an upstream that does not
// answer, so the second one, free, takes the event.
func TestAWaitAtOneSidecarEndsWithTheAnswerAnotherSidecarGot(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	up := newCountingUpstream(t)
	stuck := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(stuck) // first: Close waits for the handlers
	a := start(t, fleetEnv(t, url, hanging.URL, "GLP_RELAY_WORKERS=1", "GLP_REQUEST_TIMEOUT=30s"), "serve")
	baseA := a.url(t)
	for i := 0; i < 6; i++ { // more than the first sidecar's worker and claims can hold
		if _, ok := postConversion(baseA, fmt.Sprint("stuck-", i)); !ok {
			t.Fatal("not acknowledged")
		}
	}
	time.Sleep(500 * time.Millisecond)
	b := start(t, fleetEnv(t, url, up.srv.URL), "serve")
	b.url(t)
	time.Sleep(500 * time.Millisecond)
	status, _, body := postJSON(t, baseA+"/glp-s2s-conversion?wait=10s", `{"glpClickId":"waited-click","conversion_id":"waited"}`)
	if status != http.StatusCreated || body["status"] != "ok" {
		t.Fatalf("?wait=10s at the first sidecar: %d %v; want 201 with the answer the second one got", status, body)
	}
	if up.recorded(t)["waited-click"] != 1 {
		t.Error("the waited event was not recorded upstream once")
	}
}
