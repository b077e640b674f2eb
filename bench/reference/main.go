// Command reference serves the reference design, for a load
// generator such as wrk to compare with the ceiling (`sidecar bench
// --serve-ceiling ADDR`) and the sidecar: the ceiling's handler (decode the
// JSON, answer 202; bench.Reference) with a single writer that commits
// whatever has queued, with no added wait, before each answer.
//
//	go run ./bench/reference -schema outbox -addr 127.0.0.1:18790
//
// With -schema outbox the writer inserts the row an accept inserts into the
// outbox's own events table, migrated by the outbox package: its text key,
// the idempotency key's unique index, events_due and events_state. With
// -schema plain it inserts the same row into a table of the same columns
// with no key but its rowid and no index. The difference between the two is
// what the outbox's keys and indexes cost a single writer; BENCHMARKS.md
// quotes it.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/bench"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// insert is Append's statement (sqlite/events.go).
const insert = `INSERT INTO events (id, idem_key, payload, test, click_source, state, next_attempt_at, created_at, queued_at, updated_at)
	VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`

type write struct {
	key     string
	payload []byte
	done    chan error
}

func main() {
	schema := flag.String("schema", "outbox", "outbox or plain")
	addr := flag.String("addr", "127.0.0.1:18790", "listen address")
	path := flag.String("db", "", "a new SQLite file (default: one in a temporary directory, removed on exit)")
	flag.Parse()
	stmt := insert + " ON CONFLICT (idem_key) DO NOTHING"
	if *schema == "plain" {
		stmt = insert
	} else if *schema != "outbox" {
		log.Fatalf("-schema takes outbox or plain, not %q", *schema)
	}
	if *path == "" {
		dir, err := os.MkdirTemp("", "glp-reference")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*path = filepath.Join(dir, "reference.db")
	}
	if err := serve(*schema, *addr, *path, stmt); err != nil {
		log.Print(err)
	}
}

// serve runs the reference on addr until SIGINT or SIGTERM.
func serve(schema, addr, path, stmt string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, err := openFile(path, schema == "plain")
	if err != nil {
		return err
	}
	defer db.Close()
	writes := make(chan *write, 1024)
	go writer(db, stmt, writes)
	store := func(key string, payload []byte) error {
		w := &write{key: key, payload: payload, done: make(chan error, 1)}
		writes <- w
		return <-w.done
	}
	srv := &http.Server{Addr: addr, Handler: bench.Reference(store)}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Printf("reference (%s schema, %s) at http://%s", schema, path, addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openFile migrates a new outbox file and opens it on one connection with
// the outbox's pragmas; plain swaps its events table for one of the same
// columns without keys or indexes.
func openFile(path string, plain bool) (*sql.DB, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%s exists: give a new file", path)
	}
	o, err := sqlite.Open(sqlite.Options{Path: path})
	if err != nil {
		return nil, err
	}
	if err := o.Close(); err != nil {
		return nil, err
	}
	q := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {"FULL"}, "_txlock": {"immediate"}, "_foreign_keys": {"on"}, "_stmt_cache_size": {"64"}}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if plain {
		if _, err := db.Exec("ALTER TABLE events RENAME TO migrated; CREATE TABLE events AS SELECT * FROM migrated WHERE 0"); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// writer commits whatever has queued, up to the outbox's batch size, and
// answers each write with the commit's outcome.
func writer(db *sql.DB, stmt string, writes chan *write) {
	for {
		batch := []*write{<-writes}
	gather:
		for len(batch) < sidecar.DefaultMaxBatch {
			select {
			case w := <-writes:
				batch = append(batch, w)
			default:
				break gather
			}
		}
		err := commit(db, stmt, batch)
		if err != nil {
			log.Print(err)
		}
		for _, w := range batch {
			w.done <- err
		}
	}
}

func commit(db *sql.DB, stmt string, batch []*write) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, w := range batch {
		now := time.Now().UnixMilli()
		if _, err := tx.Exec(stmt, uuid.Must(uuid.NewV7()).String(), w.key, w.payload, false, "body", now, now, now, now); err != nil {
			return err
		}
	}
	return tx.Commit()
}
