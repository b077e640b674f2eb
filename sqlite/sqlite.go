// Package sqlite is the sidecar's outbox in one SQLite file: the events
// waiting for or done with delivery, their attempts, and the click log;
// migrations; a group-commit writer, so that each write is answered only
// once it is on disk and a burst costs one fsync per batch rather than per
// write; the claim with a lease; queries, stats and the report; retention.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Defaults.
const (
	busyTimeoutMS   = 10000       // another process (the outbox CLI) holding the write lock
	writerCacheKiB  = 16384       // the writer's page cache: the indexes of a large backlog stay in memory
	checkpointEvery = time.Second // WAL checkpoints, mostly off the writer's path
	walSizeLimit    = 256 << 20   // the WAL file is cut back to this after it restarts; see Open
	unavailableMsg  = "the outbox cannot store events now"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure a Store.
type Options struct {
	Path     string
	Logger   *slog.Logger           // nil discards
	Now      func() time.Time       // nil is time.Now
	Observer sidecar.CommitObserver // nil: not observed
}

// tuning is what the tests set beside Options (export_test.go).
type tuning struct {
	maxBatch        int           // 0: sidecar.DefaultMaxBatch; 1 commits every write alone
	checkpointEvery time.Duration // 0: every second
}

// Store is the outbox in an open SQLite file.
type Store struct {
	path string
	now  func() time.Time
	log  *slog.Logger

	wdb      *sql.DB              // the one writer connection's pool
	wconn    *sql.Conn            // the writer connection, the writer's for life
	prepared map[string]*sql.Stmt // statements prepared on it once (prepare)
	rdb      *sql.DB              // readers, query-only
	cdb      *sql.DB              // the checkpointer's connection
	writer   *writer
	watch    *fileWatch // the file at path is still the one opened (watch.go)

	ckptEvery    time.Duration
	stopCkpt     chan struct{}
	checkpointed chan struct{}
}

var _ sidecar.Store = (*Store)(nil)

// Open creates or opens the outbox file, owner-only, and migrates it.
func Open(opts Options) (*Store, error) {
	return open(opts, tuning{})
}

func open(opts Options, tune tuning) (_ *Store, err error) {
	if opts.Path == "" {
		return nil, errors.New("outbox: no path")
	}
	if err := prepareFile(opts.Path); err != nil {
		return nil, err
	}
	o := &Store{
		path:         opts.Path,
		now:          opts.Now,
		log:          opts.Logger,
		ckptEvery:    tune.checkpointEvery,
		stopCkpt:     make(chan struct{}),
		checkpointed: make(chan struct{}),
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.ckptEvery <= 0 {
		o.ckptEvery = checkpointEvery
	}
	if tune.maxBatch <= 0 {
		tune.maxBatch = sidecar.DefaultMaxBatch
	}
	defer func() {
		if err != nil {
			o.closeFiles()
		}
	}()
	if err := o.openWriter(); err != nil {
		return nil, err
	}
	if o.rdb, err = sql.Open("sqlite3", dsn(opts.Path, true)); err != nil {
		return nil, fmt.Errorf("open outbox %s for reading: %w", opts.Path, err)
	}
	o.rdb.SetMaxOpenConns(4)
	if o.cdb, err = sql.Open("sqlite3", dsn(opts.Path, false)); err != nil {
		return nil, fmt.Errorf("open outbox %s for checkpoints: %w", opts.Path, err)
	}
	o.cdb.SetMaxOpenConns(1)
	if o.watch, err = newFileWatch(opts.Path, o.log); err != nil {
		return nil, err
	}
	o.writer = newWriter(o.wconn, o.prepared, tune.maxBatch, opts.Observer, o.log)
	o.writer.guard = o.watch.check
	go o.writer.run()
	go o.watch.run()
	go o.checkpointer()
	return o, nil
}

// openWriter opens the writer connection and readies the file on it:
// migrations, WAL settings, auto_vacuum.
func (o *Store) openWriter() error {
	var err error
	if o.wdb, err = sql.Open("sqlite3", dsn(o.path, false)+fmt.Sprintf("&_cache_size=-%d", writerCacheKiB)+
		// On a new file auto_vacuum takes effect with the first table; an old
		// file is rebuilt once by convertAutoVacuum. The writer's alone: run on
		// the checkpointer's connection too, it kept the WAL from starting
		// afresh under steady writes (TestTheWALStartsAfreshUnderSteadyWrites).
		"&_auto_vacuum=incremental"); err != nil {
		return fmt.Errorf("open outbox %s: %w", o.path, err)
	}
	o.wdb.SetMaxOpenConns(1)
	o.wdb.SetMaxIdleConns(1)
	o.wdb.SetConnMaxLifetime(0)
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if o.wconn, err = o.wdb.Conn(ctx); err != nil {
		return fmt.Errorf("open outbox %s: %w", o.path, describe(err))
	}
	if err := migrate(ctx, o.wconn); err != nil {
		return fmt.Errorf("migrate outbox %s: %w", o.path, describe(err))
	}
	// Commits never checkpoint: the checkpointer does, so that no caller
	// waits for pages to be copied into the main file. The WAL holds about a
	// second of writes between restarts (~90 MB at the bench's 64
	// connections); the limit sits above that, for a file cut back below a
	// steady load's second grows past it again every second, and each
	// second's cut falls in a commit its callers wait for (p99 accept
	// latency 8.5-10.3 ms with 64 MB, 5.8-6.1 ms with 256 MB, four pairs).
	if _, err := o.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d", walSizeLimit)); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := o.convertAutoVacuum(ctx); err != nil {
		return err
	}
	return o.prepare(ctx)
}

// prepare readies the statements every batch runs, once: prepared on the
// writer's pool, they are prepared on its one connection, which the
// writer's transactions reuse (a statement prepared on a sql.Conn would be
// prepared again in every transaction). The connection goes back to the
// pool for the time it takes.
func (o *Store) prepare(ctx context.Context) error {
	err := o.wconn.Close()
	o.wconn = nil
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	o.prepared = map[string]*sql.Stmt{}
	for _, q := range []string{insertEvent, selectEvent, insertAttempt} {
		st, err := o.wdb.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("outbox: prepare: %w", describe(err))
		}
		o.prepared[q] = st
	}
	if o.wconn, err = o.wdb.Conn(ctx); err != nil {
		return fmt.Errorf("open outbox %s: %w", o.path, describe(err))
	}
	return nil
}

// closeFiles closes the connections opened so far, the last first: all of
// them on Close, what Open had opened when it fails.
func (o *Store) closeFiles() error {
	var errs []error
	if o.cdb != nil {
		errs = append(errs, o.cdb.Close())
	}
	if o.rdb != nil {
		errs = append(errs, o.rdb.Close())
	}
	if o.wconn != nil {
		errs = append(errs, o.wconn.Close())
	}
	if o.wdb != nil {
		errs = append(errs, o.wdb.Close())
	}
	return errors.Join(errs...)
}

// dsn puts every pragma in the DSN, so that each pooled connection gets them.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL") // an answered 202 survives power loss
	q.Set("_busy_timeout", strconv.Itoa(busyTimeoutMS))
	q.Set("_txlock", "immediate")
	q.Set("_foreign_keys", "on")
	q.Set("_stmt_cache_size", "64") // the same few statements run all day: prepare them once per connection
	q.Set("_secure_delete", "on")   // deleted and overwritten values are zeroed, not left in free space
	if readOnly {
		q.Set("_query_only", "true")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// prepareFile creates the file's directory and the file itself with
// owner-only permissions, and says which path failed and why.
func prepareFile(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("outbox: cannot create the data directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: cannot open the database file for writing: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("outbox: cannot make the database file owner-only: %w", err)
	}
	probe := filepath.Join(dir, ".glp-sidecar-write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return fmt.Errorf("outbox: the data directory %s is not writable (SQLite keeps its -wal and -shm files there): %w", dir, err)
	}
	return os.Remove(probe)
}

func migrate(ctx context.Context, conn *sql.Conn) error {
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for i, name := range files {
		if i < version {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if version > len(files) {
		return fmt.Errorf("the file is at schema version %d, newer than this sidecar (%d): run a newer sidecar", version, len(files))
	}
	return nil
}

// SetMaxPages changes the cap on the file's size, in pages (PRAGMA
// max_page_count), while it is open: a disk that fills up and frees again,
// for tests, ingest's among them (another package's, hence not in
// export_test.go).
func (o *Store) SetMaxPages(pages int) error {
	return o.writer.write(context.Background(), func(tx *txn) error {
		_, err := tx.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages))
		return err
	})
}

// Close finishes the writes already submitted, checkpoints the WAL and
// closes the file.
func (o *Store) Close() error {
	if !o.writer.close() {
		return nil
	}
	close(o.stopCkpt)
	<-o.checkpointed
	o.watch.close()
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if _, err := o.wconn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		o.log.Warn("outbox checkpoint failed", "err", err)
	}
	return o.closeFiles()
}

// checkpointer copies the WAL into the main file every second, without
// blocking the writer or readers (PASSIVE), until Close. Under a steady
// stream of writes such a checkpoint never catches up with the last frame,
// and SQLite only starts the WAL afresh once every frame is copied: the file
// would grow without end, and with it the cost of finding a page in it. So
// after each one the writer is asked to copy the few frames added meanwhile
// between two batches, on its own connection, where nothing can write
// behind it; its next transaction then starts the WAL from the beginning.
func (o *Store) checkpointer() {
	defer close(o.checkpointed)
	t := time.NewTicker(o.ckptEvery)
	defer t.Stop()
	for {
		select {
		case <-o.stopCkpt:
			return
		case <-t.C:
			checkpoint(o.cdb, o.log)
			o.writer.finishCheckpoint()
		}
	}
}

// checkpoint copies the WAL's frames into the main file, as far as readers
// allow, on conn: the checkpointer's own, or the writer's between batches.
func checkpoint(conn interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		log.Warn("outbox checkpoint failed", "err", err)
	}
}

// describe turns SQLite's "cannot write now" errors into an EUnavailable
// sidecar error, which callers answer with 503 and a Retry-After.
func describe(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrReadonly, sqlite3.ErrCantOpen, sqlite3.ErrBusy,
		sqlite3.ErrLocked, sqlite3.ErrNomem, sqlite3.ErrProtocol, sqlite3.ErrPerm:
		return &sidecar.Error{Code: sidecar.EUnavailable, Message: unavailableMsg + ": " + strings.ToLower(se.Code.Error()), Err: err}
	}
	return err
}

// Writable reports whether the outbox can take writes: it rewrites one row
// through the group commit. A failure is an EUnavailable error with the
// reason.
func (o *Store) Writable(ctx context.Context) error {
	return o.writer.write(ctx, func(tx *txn) error {
		_, err := tx.Exec(`UPDATE probe SET at = ? WHERE id = 1`, o.now().UnixMilli())
		return err
	})
}

// LastWriteError is the error of the last write that failed for want of
// disk, or nil once a write has succeeded since.
func (o *Store) LastWriteError() error { return o.writer.lastError() }
