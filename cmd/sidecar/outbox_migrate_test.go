package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// TestOutboxMigrateSkipsAndListsWhatPostgreSQLRefuses: an event whose
// conversion id holds a NUL (SQLite stores it; PostgreSQL's text cannot)
// is skipped and listed by its id, and the others are copied; before, it
// aborted the migration with nothing copied. The database comes from
// GLP_DB_URL_FILE, with no --to: no password on the command line, where
// ps shows it. The outbox commands read the same file.
func TestOutboxMigrateSkipsAndListsWhatPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	file, err := sqlite.Open(sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, conv := range []string{"order-1", "order-\x00-2", "order-3"} {
		a, err := file.Append(ctx, sidecar.NewEvent{Key: conv, Conversion: sidecar.Conversion{ClickID: "click-" + conv[len(conv)-1:], ConversionID: conv}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	file.Close()
	url := pgtest.URL(t)
	urlFile := filepath.Join(t.TempDir(), "db-url")
	if err := os.WriteFile(urlFile, []byte(url), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"GLP_DB_URL_FILE=" + urlFile}

	out, err := sidecarCmd(t, env, "outbox", "migrate", "--db", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "copied 2") || !strings.Contains(string(out), "skipped "+ids[1]+": ") {
		t.Fatalf("migrate: %v:\n%s\nwant 2 copied and %s listed as skipped", err, out, ids[1])
	}
	if strings.Contains(string(out), passwordOf(t, url)) || strings.Contains(string(out), "\x00") {
		t.Errorf("migrate's output shows the password or the refused value:\n%q", out)
	}
	pg := openFleetStore(t, url)
	for i, id := range ids {
		_, _, err := pg.Get(ctx, id)
		if copied := err == nil; copied != (i != 1) {
			t.Errorf("event %d (%s) in PostgreSQL: %v", i, id, err)
		}
	}
	out, err = sidecarCmd(t, env, "outbox", "stats", "--json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"queued": 2`) {
		t.Errorf("outbox stats through GLP_DB_URL_FILE: %v:\n%s", err, out)
	}
	out, err = sidecarCmd(t, []string{"GLP_DB_URL=" + url}, "outbox", "migrate", "--db", path, "--json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"copied": 0`) || !strings.Contains(string(out), ids[1]) {
		t.Errorf("a second run through GLP_DB_URL: %v:\n%s", err, out)
	}
}
