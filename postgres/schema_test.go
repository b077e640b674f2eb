package postgres_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
)

// oldTables are the store's tables, which sidecars before the schema of
// its own kept in the default schema.
var oldTables = []string{"events", "attempts", "probe", "clicks", "data_keys", "data_key_file", "audit", "audit_anchor", "keys", "glp_schema_version"}

// connect is a connection of the test's own, closed at its end.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// count is how many rows table holds, -1 when there is no such table.
func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		return -1
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A database that a sidecar before the schema of its own made (every
// migration run into public, as they were) has its tables moved into glp
// on start with every row: events queued, delivered and dead with their
// attempts, clicks, keys; none is left in public, the queued one is claimed
// and recorded, an append is stored, and glp.enqueue finds the tables where
// they went.
func TestTheOldLayoutIsMovedIntoItsOwnSchemaWithEveryRow(t *testing.T) {
	url := pgtest.URL(t)
	conn := connect(t, url)
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	for _, f := range files { // the old layout: the migrations run in the default schema
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	for _, q := range []string{
		`CREATE TABLE glp_schema_version (version integer NOT NULL); INSERT INTO glp_schema_version VALUES (` + strconv.Itoa(len(files)) + `)`,
		`INSERT INTO events (id, idem_key, payload, test, state, next_attempt_at, created_at, queued_at, updated_at) VALUES
			('01a00000-0000-7000-8000-000000000001', 'queued-key', '{"transaction_id":"old-click","conversion_id":"queued-key"}', false, 'queued', 1, 1, 1, 1),
			('01a00000-0000-7000-8000-000000000002', 'delivered-key', '{"transaction_id":"old-click","conversion_id":"delivered-key"}', false, 'delivered', 1, 1, 1, 1),
			('01a00000-0000-7000-8000-000000000003', 'dead-key', '{"transaction_id":"old-click","conversion_id":"dead-key"}', false, 'dead', 1, 1, 1, 1)`,
		`INSERT INTO attempts (event_id, n, started_at, duration_us, status, outcome) VALUES
			('01a00000-0000-7000-8000-000000000002', 1, 1, 5, 201, 'delivered'),
			('01a00000-0000-7000-8000-000000000003', 1, 1, 5, 400, 'refused')`,
		`INSERT INTO clicks (click_id, at, ip, user_agent, referrer) VALUES ('old-click', 1, '203.0.113.9', 'UA', ''), ('other-click', 2, '203.0.113.10', 'UA', '')`,
		`INSERT INTO keys VALUES ('click', '\x0102')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before := map[string]int{}
	for _, table := range oldTables {
		before[table] = count(t, conn, "public."+table)
	}

	s := open(t, postgres.Options{URL: url})
	for _, table := range oldTables {
		if n := count(t, conn, "public."+table); n != -1 {
			t.Errorf("public.%s is still there (%d rows)", table, n)
		}
		if n := count(t, conn, "glp."+table); n != before[table] {
			t.Errorf("glp.%s holds %d rows, public held %d", table, n, before[table])
		}
	}
	evs, err := s.Claim(ctx, 10, time.Minute)
	if err != nil || len(evs) != 1 || evs[0].Conversion.ConversionID != "queued-key" {
		t.Fatalf("the old queued event, claimed: %+v %v", evs, err)
	}
	if err := s.Record(ctx, sidecar.Result{EventID: evs[0].ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	if e, attempts, err := s.Get(ctx, "01a00000-0000-7000-8000-000000000003"); err != nil || e.State != sidecar.StateDead || len(attempts) != 1 {
		t.Errorf("the old dead event: %+v %+v %v", e, attempts, err)
	}
	if dup, err := s.Append(ctx, sidecar.NewEvent{Key: "delivered-key", Conversion: sidecar.Conversion{ClickID: "old-click"}}); err != nil || !dup.Duplicate {
		t.Errorf("the old delivered event's key: %+v %v; want a duplicate", dup, err)
	}
	if _, err := s.Append(ctx, sidecar.NewEvent{Key: "new-key", Conversion: sidecar.Conversion{ClickID: "old-click"}}); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := conn.QueryRow(ctx, `SELECT glp.enqueue('{"glpClickId":"old-click","conversion_id":"enqueued"}'::jsonb, NULL)`).Scan(&id); err != nil {
		t.Fatalf("glp.enqueue after the move: %v", err)
	}
	if n := count(t, conn, "glp.events"); n != before["events"]+2 {
		t.Errorf("glp.events holds %d rows after an append and an enqueue, want %d", n, before["events"]+2)
	}
}

// An app's own table called events in public (no glp_schema_version
// beside it) is not the store's: it is left as it was, and the store's
// tables are made in glp.
func TestAnAppsOwnEventsTableIsLeftAlone(t *testing.T) {
	url := pgtest.URL(t)
	conn := connect(t, url)
	if _, err := conn.Exec(ctx, `CREATE TABLE public.events (id serial PRIMARY KEY, title text NOT NULL); INSERT INTO public.events (title) VALUES ('launch')`); err != nil {
		t.Fatal(err)
	}
	s := open(t, postgres.Options{URL: url})
	if _, err := s.Append(ctx, sidecar.NewEvent{Key: "k", Conversion: sidecar.Conversion{ClickID: "c"}}); err != nil {
		t.Fatal(err)
	}
	var title string
	if err := conn.QueryRow(ctx, `SELECT title FROM public.events`).Scan(&title); err != nil || title != "launch" {
		t.Errorf("the app's events: %q %v", title, err)
	}
	if n := count(t, conn, "glp.events"); n != 1 {
		t.Errorf("glp.events holds %d rows, want 1", n)
	}
}

// The URL's search_path names the schema (its first), which is made and
// used instead of glp; the parameter is not sent to the server.
func TestTheURLsSearchPathNamesTheSchema(t *testing.T) {
	url := pgtest.URL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s := open(t, postgres.Options{URL: url + sep + "search_path=Outbox_Here,public"})
	if _, err := s.Append(ctx, sidecar.NewEvent{Key: "k", Conversion: sidecar.Conversion{ClickID: "c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordClicks(ctx, []sidecar.Click{{ClickID: "c", At: time.Now(), IP: "203.0.113.9", UserAgent: "UA"}}, 10); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Claim(ctx, 10, time.Minute)
	if err != nil || len(evs) != 1 {
		t.Fatalf("claimed %+v %v", evs, err)
	}
	if err := s.Record(ctx, sidecar.Result{EventID: evs[0].ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	for table, want := range map[string]int{"outbox_here.events": 1, "outbox_here.attempts": 1, "outbox_here.clicks": 1, "glp.events": -1, "public.events": -1} {
		if n := count(t, conn, table); n != want {
			t.Errorf("%s: %d rows, want %d (-1: no such table)", table, n, want)
		}
	}
	var id string
	if err := conn.QueryRow(ctx, `SELECT glp.enqueue('{"glpClickId":"c","conversion_id":"enqueued"}'::jsonb, NULL)`).Scan(&id); err != nil {
		t.Fatalf("glp.enqueue: %v", err)
	}
	if n := count(t, conn, "outbox_here.events"); n != 2 {
		t.Errorf("glp.enqueue stored elsewhere than the URL's schema: %d rows there", n)
	}
}
