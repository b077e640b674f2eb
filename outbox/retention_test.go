package outbox_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/outbox"
)

func TestRetentionAlsoErasesSessionTokensAndUpstreamAnswers(t *testing.T) {
	clk := newClock()
	o := open(t, outbox.Options{Now: clk.now})
	c := conv(1)
	c.Conversion.SessionToken = "sess-erase-me"
	done, _ := o.Append(ctx, c)
	o.Claim(ctx, 1, time.Minute)
	answer := `{"status":"ok","echo":"pat@example.com sess-erase-me"}`
	o.Record(ctx, sidecar.Result{EventID: done.ID, State: sidecar.StateDelivered, Attempt: sidecar.Attempt{N: 1, Status: 201, Body: answer, Outcome: "delivered"}})
	if e, attempts, _ := o.Get(ctx, done.ID); e.LastBody != answer || len(attempts) != 1 || attempts[0].Body != answer {
		t.Fatalf("before retention the answer is kept: %q %+v", e.LastBody, attempts)
	}
	clk.advance(31 * 24 * time.Hour)
	if n, err := o.Retain(ctx, 30*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("erased %d %v", n, err)
	}
	e, attempts, _ := o.Get(ctx, done.ID)
	if e.Conversion.SessionToken != "" || e.LastBody != "" || len(attempts) != 1 || attempts[0].Body != "" || attempts[0].Status != 201 {
		t.Errorf("after retention: session token %q, last body %q, attempts %+v", e.Conversion.SessionToken, e.LastBody, attempts)
	}
}

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
	o, err := outbox.Open(outbox.Options{Path: path})
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
