package outbox_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glpwinner/glp-sidecar/outbox"
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
