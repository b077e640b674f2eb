// Package outbox is the sidecar's SQLite file: the events waiting for or done
// with delivery, their attempts, and the click log. Every write goes through
// one writer goroutine that gathers concurrent writes into one transaction
// (group commit), so that each caller is answered only once its write is on
// disk, and a burst costs one fsync per batch rather than per event. While
// accepts keep the writer busy, the relay's claims and records wait their
// turn, a quarter of a second at most: delivery catches up after a burst.
package outbox

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
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Defaults.
const (
	DefaultMaxBatch = 256                    // writes gathered into one transaction at most
	batchTimeout    = 30 * time.Second       // one group commit, busy waits included
	busyTimeoutMS   = 10000                  // another process (the outbox CLI) holding the write lock
	writerCacheKiB  = 16384                  // the writer's page cache: the indexes of a large backlog stay in memory
	checkpointEvery = time.Second            // WAL checkpoints, mostly off the writer's path
	walSizeLimit    = 256 << 20              // the WAL file is cut back to this after it restarts; see Open
	lazyWait        = 2 * time.Millisecond   // how long a batch of lazy writes alone waits for company
	relayMaxWait    = 250 * time.Millisecond // how long the relay's writes wait at most while accepts keep the writer busy
	loadWindow      = 100 * time.Millisecond // how often the writer weighs how busy the callers' writes keep it
	crowd           = 8                      // callers' writes per commit, on average, that make a burst
	readyTurns      = 4                      // during a burst, how often the writer lets ready goroutines go first before it commits
	unavailableMsg  = "the outbox cannot store events now"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure an Outbox.
type Options struct {
	Path     string
	MaxBatch int              // 0: DefaultMaxBatch; 1 commits every write alone
	MaxPages int              // cap on the file's size in pages (PRAGMA max_page_count); 0: SQLite's own
	Logger   *slog.Logger     // nil discards
	Now      func() time.Time // nil is time.Now

	CheckpointEvery time.Duration // 0: every second
	Observer        Observer      // nil: not observed
}

// Observer is told of every group commit: how many writes it carried and
// how long its transaction took, disk sync included. Metrics.
type Observer interface {
	Committed(writes int, took time.Duration)
}

// Outbox is the open SQLite file.
type Outbox struct {
	path      string
	ckptEvery time.Duration
	observer  Observer
	wdb       *sql.DB   // the one writer connection
	wconn     *sql.Conn // held by the writer goroutine for life
	rdb       *sql.DB   // readers, query-only
	cdb       *sql.DB   // the checkpointer's connection
	maxBatch  int
	now       func() time.Time
	log       *slog.Logger

	ops          chan *op     // the callers' writes: accepts, operators' commands
	relayOps     chan *op     // the relay's claims and records
	mu           sync.RWMutex // guards closed against writes racing Close
	closed       bool
	quit         chan struct{}
	stopped      chan struct{}
	checkpointed chan struct{}

	lastErr    atomic.Pointer[error] // the last write that failed for want of disk, nil once one succeeds
	finishCkpt atomic.Bool           // the writer is to finish the checkpointer's work between batches
	burstUntil atomic.Int64          // while a burst lasts, a little past the writer's last weighing (Unix ns); 0 without one

	// The writer's own: the window being weighed (the time it waited for
	// writes, how many callers' writes it committed, in how many commits),
	// and when the relay's writes last had a turn.
	window       time.Time
	idleInWindow time.Duration
	callers      int
	commits      int
	relayTurn    time.Time
}

// op is one write for the group commit: fn runs inside the batch's
// transaction and must have no effect outside it but its captured results.
// A relay op is the relay's claim or record: it yields to the callers'
// writes while they keep the writer busy. A lazy op (a record) has nobody
// waiting on its answer in a hurry: a batch of lazy ops alone waits a little
// for more to share its commit.
type op struct {
	fn    func(*sql.Tx) error
	done  chan error
	relay bool
	lazy  bool
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("outbox is closed")

// Open creates or opens the outbox file, owner-only, and migrates it.
func Open(opts Options) (*Outbox, error) {
	if opts.Path == "" {
		return nil, errors.New("outbox: no path")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = checkpointEvery
	}
	if err := prepareFile(opts.Path); err != nil {
		return nil, err
	}
	o := &Outbox{
		path: opts.Path, ckptEvery: opts.CheckpointEvery, maxBatch: opts.MaxBatch, observer: opts.Observer, now: opts.Now, log: opts.Logger,
		ops: make(chan *op, 4*opts.MaxBatch), relayOps: make(chan *op, 4*opts.MaxBatch), quit: make(chan struct{}), stopped: make(chan struct{}), checkpointed: make(chan struct{}),
	}
	var err error
	if o.wdb, err = sql.Open("sqlite3", dsn(opts.Path, false)+fmt.Sprintf("&_cache_size=-%d", writerCacheKiB)+
		// On a new file auto_vacuum takes effect with the first table; an old
		// file is rebuilt once by convertAutoVacuum. The writer's alone: run on
		// the checkpointer's connection too, it kept the WAL from starting
		// afresh under steady writes (TestTheWALStartsAfreshUnderSteadyWrites).
		"&_auto_vacuum=incremental"); err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", opts.Path, err)
	}
	o.wdb.SetMaxOpenConns(1)
	o.wdb.SetMaxIdleConns(1)
	o.wdb.SetConnMaxLifetime(0)
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if o.wconn, err = o.wdb.Conn(ctx); err != nil {
		o.wdb.Close()
		return nil, fmt.Errorf("open outbox %s: %w", opts.Path, describe(err))
	}
	if err := migrate(ctx, o.wconn); err != nil {
		o.wconn.Close()
		o.wdb.Close()
		return nil, fmt.Errorf("migrate outbox %s: %w", opts.Path, describe(err))
	}
	// Commits never checkpoint: the checkpointer does, so that no caller
	// waits for pages to be copied into the main file. The WAL holds about a
	// second of writes between restarts (~90 MB at the bench's 64
	// connections); the limit sits above that, for a file cut back below a
	// steady load's second grows past it again every second, and each
	// second's cut falls in a commit its callers wait for (p99 accept
	// latency 8.5-10.3 ms with 64 MB, 5.8-6.1 ms with 256 MB, four pairs).
	if _, err := o.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d", walSizeLimit)); err != nil {
		o.wconn.Close()
		o.wdb.Close()
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := o.convertAutoVacuum(ctx); err != nil {
		o.wconn.Close()
		o.wdb.Close()
		return nil, err
	}
	if opts.MaxPages > 0 {
		if err := o.setMaxPages(ctx, opts.MaxPages); err != nil {
			o.wconn.Close()
			o.wdb.Close()
			return nil, err
		}
	}
	if o.rdb, err = sql.Open("sqlite3", dsn(opts.Path, true)); err != nil {
		o.wconn.Close()
		o.wdb.Close()
		return nil, fmt.Errorf("open outbox %s for reading: %w", opts.Path, err)
	}
	o.rdb.SetMaxOpenConns(4)
	if o.cdb, err = sql.Open("sqlite3", dsn(opts.Path, false)); err != nil {
		o.rdb.Close()
		o.wconn.Close()
		o.wdb.Close()
		return nil, fmt.Errorf("open outbox %s for checkpoints: %w", opts.Path, err)
	}
	o.cdb.SetMaxOpenConns(1)
	go o.writer()
	go o.checkpointer()
	return o, nil
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

// setMaxPages caps the file's size (PRAGMA max_page_count) on the writer.
func (o *Outbox) setMaxPages(ctx context.Context, pages int) error {
	if _, err := o.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		return fmt.Errorf("outbox: set max_page_count: %w", err)
	}
	return nil
}

// SetMaxPages changes the cap on the file's size, in pages, while it is
// open; it is how the tests make the disk full and free again.
func (o *Outbox) SetMaxPages(pages int) error {
	return o.write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages))
		return err
	})
}

// Path is the file's path.
func (o *Outbox) Path() string { return o.path }

// Close finishes the writes already submitted, checkpoints the WAL and
// closes the file.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	close(o.quit)
	<-o.stopped
	<-o.checkpointed
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if _, err := o.wconn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		o.log.Warn("outbox checkpoint failed", "err", err)
	}
	return errors.Join(o.cdb.Close(), o.rdb.Close(), o.wconn.Close(), o.wdb.Close())
}

// checkpointer copies the WAL into the main file every second, without
// blocking the writer or readers (PASSIVE), until Close. Under a steady
// stream of writes such a checkpoint never catches up with the last frame,
// and SQLite only starts the WAL afresh once every frame is copied: the file
// would grow without end, and with it the cost of finding a page in it. So
// after each one the writer is asked to copy the few frames added meanwhile
// between two batches, on its own connection, where nothing can write
// behind it; its next transaction then starts the WAL from the beginning.
func (o *Outbox) checkpointer() {
	defer close(o.checkpointed)
	t := time.NewTicker(o.ckptEvery)
	defer t.Stop()
	for {
		select {
		case <-o.quit:
			return
		case <-t.C:
			o.checkpoint(o.cdb)
			o.finishCkpt.Store(true)
		}
	}
}

// write submits fn to the group commit and waits until its transaction is
// on disk (or failed). It does not give up when ctx ends after submitting:
// the write is then committed or not as a whole, and the caller learns which.
func (o *Outbox) write(ctx context.Context, fn func(*sql.Tx) error) error {
	return o.submit(ctx, &op{fn: fn, done: make(chan error, 1)})
}

// writeRelay is write for the relay, whose claims and records yield to the
// accepts during a burst. A lazy write (a record) can also wait a few
// milliseconds for company, rather than pay a commit of its own between
// the claims.
func (o *Outbox) writeRelay(ctx context.Context, fn func(*sql.Tx) error, lazy bool) error {
	return o.submit(ctx, &op{fn: fn, done: make(chan error, 1), relay: true, lazy: lazy})
}

func (o *Outbox) submit(ctx context.Context, w *op) error {
	o.mu.RLock()
	if o.closed {
		o.mu.RUnlock()
		return ErrClosed
	}
	queue := o.ops
	if w.relay {
		queue = o.relayOps
	}
	select {
	case queue <- w:
	case <-ctx.Done():
		o.mu.RUnlock()
		return ctx.Err()
	}
	o.mu.RUnlock()
	return <-w.done
}

// writer gathers whatever writes are waiting, up to maxBatch, into one
// transaction. The relay's join the callers' at once, except during a burst:
// when in the last loadWindow the writer waited for writes less than half
// the time, and its commits of callers' writes carried crowd of them or
// more each, it is what the accepts wait for. Then the relay's writes get a
// turn every relayMaxWait, so that the burst is taken first and delivered
// after, and before each commit the goroutines ready to run go first, so
// that the writes they are about to submit join it (gatherReady). The writer
// waits on a clock for more writes only when every write gathered is lazy:
// then for lazyWait at most, or until a write that is not lazy comes.
func (o *Outbox) writer() {
	defer close(o.stopped)
	for {
		waiting := time.Now()
		first := o.next()
		o.idleInWindow += time.Since(waiting)
		if first == nil {
			o.drain()
			return
		}
		batch := o.gather([]*op{first}, o.ops)
		if first.relay || o.relayWait() <= 0 {
			n := len(batch)
			batch = o.gather(batch, o.relayOps)
			if first.relay || len(batch) > n {
				o.relayTurn = time.Now()
			}
		}
		if allLazy(batch) && len(batch) < o.maxBatch {
			batch = o.gatherLazy(batch)
		} else if o.bursting() {
			batch = o.gatherReady(batch)
		}
		o.commit(batch)
		o.weigh(batch)
		if o.finishCkpt.Swap(false) {
			o.checkpoint(o.wconn) // the frames the checkpointer left
		}
	}
}

// next waits for a write, a caller's before the relay's, and returns nil on
// Close. While the relay's writes must wait, it does not take them.
func (o *Outbox) next() *op {
	select {
	case w := <-o.ops:
		return w
	default:
	}
	var relay chan *op // nil, never ready, until the relay's turn
	var turn <-chan time.Time
	if wait := o.relayWait(); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		turn = t.C
	} else {
		relay = o.relayOps
	}
	for {
		select {
		case w := <-o.ops:
			return w
		case w := <-relay:
			return w
		case <-turn:
			relay, turn = o.relayOps, nil
		case <-o.quit:
			return nil
		}
	}
}

// relayWait is how long yet the relay's writes must wait for their turn:
// nothing while the writer keeps up with the callers, or sits idle.
func (o *Outbox) relayWait() time.Duration {
	if !o.bursting() {
		return 0
	}
	return relayMaxWait - time.Since(o.relayTurn)
}

// bursting reports whether a burst keeps the writer busy: its last weighing
// said so, and it was not long ago (an idle writer weighs nothing).
func (o *Outbox) bursting() bool {
	return time.Now().UnixNano() < o.burstUntil.Load()
}

// weigh adds a commit to the load window and, once the window is over,
// decides whether a burst keeps the writer busy. The writer's time is what
// it did not spend waiting for writes: commits, and the checkpoints it
// finishes between them.
func (o *Outbox) weigh(batch []*op) {
	if n := len(batch) - countRelay(batch); n > 0 {
		o.callers += n
		o.commits++
	}
	now := time.Now()
	if took := now.Sub(o.window); took >= loadWindow {
		until := int64(0)
		if o.commits > 0 && 2*o.idleInWindow < took && o.callers >= crowd*o.commits {
			until = now.Add(2 * loadWindow).UnixNano()
		}
		o.burstUntil.Store(until)
		o.window, o.idleInWindow, o.callers, o.commits = now, 0, 0, 0
	}
}

func countRelay(batch []*op) int {
	n := 0
	for _, w := range batch {
		if w.relay {
			n++
		}
	}
	return n
}

// drain commits the writes still waiting at Close, each alone.
func (o *Outbox) drain() {
	for {
		select {
		case w := <-o.ops:
			o.commit([]*op{w})
		case w := <-o.relayOps:
			o.commit([]*op{w})
		default:
			return
		}
	}
}

// gather adds the writes already waiting in queue to batch, up to maxBatch.
func (o *Outbox) gather(batch []*op, queue chan *op) []*op {
	for len(batch) < o.maxBatch {
		select {
		case w := <-queue:
			batch = append(batch, w)
		default:
			return batch
		}
	}
	return batch
}

// gatherReady lets the goroutines that are ready to run go first, up to
// readyTurns times, and adds the callers' writes they submit to batch. During
// a burst the ready ones are mostly requests about to be stored: in this
// commit rather than the next, they share its fixed cost (the fsync, the
// pages every commit rewrites), and the CPU it saves is the burst's. With
// nothing else ready to run a turn costs next to nothing: it never waits on
// a clock.
func (o *Outbox) gatherReady(batch []*op) []*op {
	for i := 0; i < readyTurns && len(batch) < o.maxBatch; i++ {
		runtime.Gosched()
		batch = o.gather(batch, o.ops)
	}
	return batch
}

func allLazy(batch []*op) bool {
	for _, w := range batch {
		if !w.lazy {
			return false
		}
	}
	return true
}

// gatherLazy waits up to lazyWait for more writes to join a batch of lazy
// ones, and stops at the first that is not lazy, or when the batch is full.
func (o *Outbox) gatherLazy(batch []*op) []*op {
	t := time.NewTimer(lazyWait)
	defer t.Stop()
	for len(batch) < o.maxBatch {
		var w *op
		select {
		case w = <-o.relayOps:
		case w = <-o.ops:
		case <-t.C:
			return batch
		case <-o.quit:
			return batch
		}
		batch = append(batch, w)
		if !w.lazy {
			return o.gather(o.gather(batch, o.ops), o.relayOps)
		}
	}
	return batch
}

// checkpoint copies the WAL's frames into the main file, as far as readers
// allow, on conn: the checkpointer's own, or the writer's between batches.
func (o *Outbox) checkpoint(conn interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		o.log.Warn("outbox checkpoint failed", "err", err)
	}
}

// commit runs the batch in one transaction. If that fails, each write is
// tried alone, so that one bad write never fails its neighbours.
func (o *Outbox) commit(batch []*op) {
	start := time.Now()
	err := o.runTx(batch)
	if err == nil {
		if o.observer != nil {
			o.observer.Committed(len(batch), time.Since(start))
		}
		o.lastErr.Store(nil)
		for _, w := range batch {
			w.done <- nil
		}
		return
	}
	if len(batch) == 1 {
		o.fail(batch[0], err)
		return
	}
	for _, w := range batch {
		if err := o.runTx([]*op{w}); err != nil {
			o.fail(w, err)
			continue
		}
		o.lastErr.Store(nil)
		w.done <- nil
	}
}

func (o *Outbox) fail(w *op, err error) {
	err = describe(err)
	if sidecar.ErrorCode(err) == sidecar.EUnavailable {
		o.lastErr.Store(&err)
	}
	w.done <- err
}

func (o *Outbox) runTx(batch []*op) error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	tx, err := o.wconn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, w := range batch {
		if err := w.fn(tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
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
func (o *Outbox) Writable(ctx context.Context) error {
	return o.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE probe SET at = ? WHERE id = 1`, o.now().UnixMilli())
		return err
	})
}

// LastWriteError is the error of the last write that failed for want of
// disk, or nil once a write has succeeded since.
func (o *Outbox) LastWriteError() error {
	if p := o.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}
