package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// TestAnOldFileIsRebuiltForIncrementalVacuum opens a file made without
// auto_vacuum, whose free pages still hold a deleted value: Open rebuilds it
// once, and the value is gone from the file.
func TestAnOldFileIsRebuiltForIncrementalVacuum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	marker := strings.Repeat("deleted-patient@example.com;", 200)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"PRAGMA auto_vacuum = NONE", "PRAGMA secure_delete = OFF", "CREATE TABLE leftovers (v TEXT)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		db.Exec("INSERT INTO leftovers VALUES (?)", marker)
	}
	db.Exec("DELETE FROM leftovers")
	db.Close()
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte("deleted-patient@example.com")) {
		t.Fatal("the deleted value is not in the old file's free pages: the test would prove nothing")
	}
	o, err := sqlite.Open(sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	db, _ = sql.Open("sqlite3", path)
	defer db.Close()
	var mode int
	if err := db.QueryRow("PRAGMA auto_vacuum").Scan(&mode); err != nil || mode != 2 {
		t.Errorf("auto_vacuum %d %v, want 2 (incremental)", mode, err)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("deleted-patient@example.com")) {
		t.Error("the old file's free pages still hold a deleted value")
	}
}

// TestAPurgeLeavesThePurgedEventsNowhereInTheFiles purges delivered events
// whose email retention has not erased yet: the rows are gone from the
// file (secure_delete) and from the WAL, whose frames held them as they
// were written.
func TestAPurgeLeavesThePurgedEventsNowhereInTheFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	o, err := sqlite.Open(sqlite.Options{Path: path, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	for i := range 20 {
		a, err := o.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: fmt.Sprintf("c-%d", i), Email: fmt.Sprintf("purged-patient-%d@example.com", i)}})
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := o.Claim(ctx, 1, time.Minute)
		if err := o.Record(ctx, sidecar.Result{EventID: a.ID, State: sidecar.StateDelivered, LeaseUntil: evs[0].LeaseUntil,
			Attempt: sidecar.Attempt{N: 1, Status: 201, Outcome: "delivered"}}); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(path + "-wal"); !bytes.Contains(b, []byte("purged-patient-")) {
		t.Fatal("the WAL does not hold the events: the test would prove nothing")
	}
	now = now.Add(48 * time.Hour)
	if n, err := o.Purge(ctx, 24*time.Hour); err != nil || n != 20 {
		t.Fatalf("purge: %d %v", n, err)
	}
	for _, f := range []string{path, path + "-wal"} {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("purged-patient-")) {
			t.Errorf("%s still holds a purged event's email", filepath.Base(f))
		}
	}
}
