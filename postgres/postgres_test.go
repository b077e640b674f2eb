package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
	"github.com/glpwinner/glp-sidecar/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

func open(t testing.TB, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgreSQLKeepsTheStoreContract(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		NewDB: func(t *testing.T) string { return pgtest.URL(t) },
		Open: func(t *testing.T, url string, now func() time.Time) sidecar.Store {
			return open(t, postgres.Options{URL: url, Now: now})
		},
	})
}

// Sidecars starting together migrate once: the advisory lock makes the
// others wait, then find the schema done.
func TestSidecarsStartingTogetherMigrateOnce(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx, postgres.Options{URL: url})
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("open: %v", err)
	}
	s := open(t, postgres.Options{URL: url})
	if _, err := s.Append(ctx, sidecar.NewEvent{Key: "k", Conversion: sidecar.Conversion{Email: "a@example.com"}}); err != nil {
		t.Fatal(err)
	}
}

// An event queued through one handle wakes the listeners of every handle
// on the database, another process's included.
func TestAnAppendWakesTheListenersOfEverySidecar(t *testing.T) {
	url := pgtest.URL(t)
	a, b := open(t, postgres.Options{URL: url}), open(t, postgres.Options{URL: url})
	lctx, cancel := context.WithCancel(ctx)
	woken := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- b.Listen(lctx, func() { woken <- struct{}{} }) }()
	select { // the first wake-up says it listens
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener never started")
	}
	if _, err := a.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{Email: "a@example.com"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("an append through one handle did not wake the other's listener")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("listen: %v", err)
	}
}

// A wrong password: the error, and every log line, name the user and the
// host but never the password.
func TestAWrongPasswordIsNeverShown(t *testing.T) {
	good := pgtest.URL(t)
	u, _ := neturl.Parse(good)
	const wrong = "Wr0ng-Pa55word-in-the-URL"
	u.User = neturl.UserPassword("postgres", wrong)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := postgres.Open(ctx, postgres.Options{URL: u.String(), Logger: log})
	if err == nil {
		t.Fatal("opened with a wrong password")
	}
	t.Logf("the error: %v", err)
	for what, text := range map[string]string{"error": err.Error(), "logs": logs.String(), "error %+v": fmt.Sprintf("%+v", err), "error %#v": fmt.Sprintf("%#v", err)} {
		if strings.Contains(text, wrong) {
			t.Errorf("the %s show the password: %s", what, text)
		}
	}
	if !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("the error does not say why: %v", err)
	}
	if got := postgres.Describe(u.String()); strings.Contains(got, wrong) || !strings.Contains(got, u.Host) {
		t.Errorf("Describe: %s", got)
	}
}

// A database that is down refuses appends with EUnavailable (503 at the
// endpoint), stores nothing, and the pool recovers by itself once it is
// back; a read-only database refuses the same way.
func TestADatabaseDownOrReadOnlyRefusesAndTheStoreRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("a PostgreSQL cluster of its own, stopped and started: runs without -short")
	}
	cluster := pgtest.Own(t)
	url := cluster.Database(t)
	var logs bytes.Buffer
	s := open(t, postgres.Options{URL: url, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, err := s.Append(ctx, sidecar.NewEvent{Key: "before", Conversion: sidecar.Conversion{Email: "a@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, sidecar.NewEvent{Key: "while-down", Conversion: sidecar.Conversion{Email: "a@example.com"}})
	if sidecar.ErrorCode(err) != sidecar.EUnavailable {
		t.Fatalf("append while the database is down: %v (code %q), want unavailable", err, sidecar.ErrorCode(err))
	}
	if sidecar.ErrorCode(s.Writable(ctx)) != sidecar.EUnavailable || s.LastWriteError() == nil {
		t.Errorf("writable %v, last write error %v: the store does not know it cannot write", s.Writable(ctx), s.LastWriteError())
	}
	if strings.Contains(err.Error(), pgtest.Password) || strings.Contains(logs.String(), pgtest.Password) {
		t.Errorf("the password shows: %v %s", err, logs.String())
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, sidecar.NewEvent{Key: "after", Conversion: sidecar.Conversion{Email: "a@example.com"}}); err != nil {
		t.Fatalf("append once the database is back: %v", err)
	}
	if s.LastWriteError() != nil {
		t.Error("the store still thinks it cannot write")
	}
	st, _ := s.Stats(ctx)
	if st.States[sidecar.StateQueued] != 2 {
		t.Errorf("%d events queued; want 2 (the refused one left nothing)", st.States[sidecar.StateQueued])
	}

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	dbname := strings.TrimPrefix(mustParse(t, url).Path, "/")
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+dbname+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	ro := open(t, postgres.Options{URL: url}) // new sessions take the setting
	if _, err := ro.Append(ctx, sidecar.NewEvent{Key: "read-only", Conversion: sidecar.Conversion{Email: "a@example.com"}}); sidecar.ErrorCode(err) != sidecar.EUnavailable {
		t.Errorf("append on a read-only database: %v (code %q), want unavailable", err, sidecar.ErrorCode(err))
	}
}

func mustParse(t *testing.T, raw string) *neturl.URL {
	u, err := neturl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The password can stay out of the URL (and of the environment that holds
// it): a URL without one takes it from the file PGPASSFILE names, as libpq
// does; the Compose file keeps it in a secret that way.
func TestAURLWithoutAPasswordTakesItFromPGPASSFILE(t *testing.T) {
	u := mustParse(t, pgtest.URL(t))
	user := u.User.Username()
	password, _ := u.User.Password()
	u.User = neturl.User(user)
	if _, err := postgres.Open(ctx, postgres.Options{URL: u.String()}); err == nil {
		t.Skip("the server takes this user without a password; nothing to show")
	}
	pass := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(pass, []byte("*:*:*:"+user+":"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGPASSFILE", pass)
	s := open(t, postgres.Options{URL: u.String()})
	if err := s.Writable(ctx); err != nil {
		t.Fatal(err)
	}
}

// A database that a sidecar of phase 1 made (schema version 1) is brought
// up to date on start with what it holds: its queued event is claimed and
// read with the accounting's columns, its clicks keep their referrer without
// the query or fragment and are not taken for top-level landings.
func TestADatabaseOfTheFirstSchemaIsMigratedWithWhatItHolds(t *testing.T) {
	url := pgtest.URL(t)
	first, err := os.ReadFile(filepath.Join("migrations", "0001_outbox.sql"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(first), `CREATE TABLE glp_schema_version (version integer NOT NULL); INSERT INTO glp_schema_version VALUES (1)`,
		`INSERT INTO events (id, idem_key, payload, test, state, next_attempt_at, created_at, queued_at, updated_at)
			VALUES ('01a00000-0000-7000-8000-000000000001', 'old-key', '{"transaction_id":"old-click","conversion_id":"old-key"}', false, 'queued', 1, 1, 1, 1)`,
		`INSERT INTO clicks (click_id, at, ip, user_agent, referrer) VALUES ('old-click', 1, '203.0.113.9', 'UA', 'https://aff.example/p?q=pat%40example.com#top')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)

	s := open(t, postgres.Options{URL: url})
	evs, err := s.Claim(ctx, 10, time.Minute)
	if err != nil || len(evs) != 1 || evs[0].Conversion.ClickID != "old-click" || evs[0].MayHaveLanded {
		t.Fatalf("the old queued event, claimed: %+v %v", evs, err)
	}
	if err := s.Record(ctx, sidecar.Result{EventID: evs[0].ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}); err != nil {
		t.Fatal(err)
	}
	if e, attempts, err := s.Get(ctx, evs[0].ID); err != nil || e.State != sidecar.StateDelivered || e.PossibleDouble || len(attempts) != 1 || attempts[0].Repeats != 1 {
		t.Errorf("the old event, delivered: %+v %+v %v", e, attempts, err)
	}
	clicks, err := s.Clicks(ctx, 10)
	if err != nil || len(clicks) != 1 || clicks[0].Referrer != "https://aff.example/p" || clicks[0].TopLevel {
		t.Errorf("the old click: %+v %v; want its referrer without query and fragment, not top-level", clicks, err)
	}
	if _, ok, _ := s.MatchClick(ctx, "203.0.113.9", "UA", time.UnixMilli(0)); ok {
		t.Error("an old click, not known to be a top-level landing, matched")
	}
	if dup, err := s.Append(ctx, sidecar.NewEvent{Key: "old-key", Conversion: sidecar.Conversion{ClickID: "old-click"}}); err != nil || !dup.Duplicate {
		t.Errorf("the old event's key: %+v %v; want a duplicate", dup, err)
	}
}
