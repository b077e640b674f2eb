package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// The writer's tuning; BENCHMARKS.md has what each is worth.
const (
	batchTimeout = 30 * time.Second       // one group commit, busy waits included
	lazyWait     = 2 * time.Millisecond   // how long a batch of lazy writes alone waits for company
	relayMaxWait = 250 * time.Millisecond // how long the relay's writes wait at most while the callers' keep the writer busy
	loadWindow   = 100 * time.Millisecond // how often the writer weighs how busy the callers' writes keep it
	crowd        = 8                      // callers' writes per commit, on average, that make a burst
)

// writer is the outbox's one writer: a goroutine that holds the writer
// connection and commits whatever writes are waiting, up to maxBatch, in
// one transaction (group commit).
//
// A caller of write or writeRelay gets nil once its write is committed and
// on disk (synchronous=FULL): durable. Otherwise it gets fn's own error, an
// EUnavailable sidecar error when SQLite cannot write now (a full disk, a
// read-only file, a lock held past the busy timeout), sidecar.ErrClosed after
// close, or ctx's error if ctx ended before the write was queued; once
// queued, a write is committed or not as a whole whatever ctx does, and its
// caller learns which. A batch that fails is tried again write by write, so
// that one bad write never fails its neighbours. Writes are committed in the
// order they were queued within each of two lanes: the callers' (accepts,
// operators' commands) and the relay's (claims, records, the click log's
// batches). The callers' lane has priority: a batch takes its writes first,
// and while they keep the writer busy (a burst) the relay's lane gets a turn
// only every relayMaxWait; otherwise the relay's writes join the next batch.
// So a caller waits for the commits ahead of it, each bounded by
// batchTimeout; the relay's writes wait relayMaxWait more at most, and a
// batch of lazy writes alone (records, clicks) up to lazyWait for company.
type writer struct {
	conn     *sql.Conn            // the one writer connection, held for life
	prepared map[string]*sql.Stmt // the statements every batch runs, prepared once on conn
	maxBatch int
	observer sidecar.CommitObserver // nil: not observed
	log      *slog.Logger

	callers chan *op     // the callers' lane
	relay   chan *op     // the relay's lane
	mu      sync.RWMutex // guards closed against writes racing close
	closed  bool
	quit    chan struct{}
	stopped chan struct{}

	lastErr    atomic.Pointer[error] // the last write that failed for want of disk, nil once one succeeds
	finishCkpt atomic.Bool           // the checkpointer asks for the frames it left to be copied between batches
	load       load                  // the burst detector

	relayTurn time.Time // when the relay's lane last had a turn; the writer goroutine's own

	guard func() error // nil, or the file watch's check (watch.go): its error fails a batch before it runs and before it is answered
}

// op is one write for the group commit: fn runs inside the batch's
// transaction and must have no effect outside it but its captured results.
// A relay op goes in the relay's lane. A lazy op (a record) has nobody
// waiting on its answer in a hurry: a batch of lazy ops alone waits a little
// for more to share its commit.
type op struct {
	fn    func(*txn) error
	done  chan error
	relay bool
	lazy  bool
}

func newWriter(conn *sql.Conn, prepared map[string]*sql.Stmt, maxBatch int, observer sidecar.CommitObserver, log *slog.Logger) *writer {
	return &writer{
		conn:     conn,
		prepared: prepared,
		maxBatch: maxBatch,
		observer: observer,
		log:      log,
		callers:  make(chan *op, 4*maxBatch),
		relay:    make(chan *op, 4*maxBatch),
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// write submits a caller's fn to the group commit and waits for its answer.
func (w *writer) write(ctx context.Context, fn func(*txn) error) error {
	return w.submit(ctx, &op{fn: fn, done: make(chan error, 1)})
}

// writeRelay is write for the relay's lane. A lazy write (a record) can
// also wait a few milliseconds for company, rather than pay a commit of its
// own between the claims.
func (w *writer) writeRelay(ctx context.Context, fn func(*txn) error, lazy bool) error {
	return w.submit(ctx, &op{fn: fn, done: make(chan error, 1), relay: true, lazy: lazy})
}

func (w *writer) submit(ctx context.Context, o *op) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return sidecar.ErrClosed
	}
	lane := w.callers
	if o.relay {
		lane = w.relay
	}
	select {
	case lane <- o:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	return <-o.done
}

// close refuses new writes, waits for the writer to commit those already
// queued, and reports whether it was the first call.
func (w *writer) close() bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.closed = true
	w.mu.Unlock()
	close(w.quit)
	<-w.stopped
	return true
}

// lastError is the error of the last write that failed for want of disk,
// or nil once a write has succeeded since.
func (w *writer) lastError() error {
	if p := w.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// finishCheckpoint asks the writer to copy, between two batches, the WAL
// frames a background checkpoint could not (see checkpointer).
func (w *writer) finishCheckpoint() { w.finishCkpt.Store(true) }

// run is the writer goroutine, until close. The relay's writes join the
// callers' at once, except during a burst (load): then they get a turn
// every relayMaxWait, so that the burst is taken first and delivered after.
// The writer waits on a clock for more writes only when every write
// gathered is lazy: then for lazyWait at most, or until a write that is not
// lazy comes.
func (w *writer) run() {
	defer close(w.stopped)
	for {
		waiting := time.Now()
		first := w.next()
		w.load.idle += time.Since(waiting)
		if first == nil {
			w.drain()
			return
		}
		batch := w.gather([]*op{first}, w.callers)
		if first.relay || w.relayWait() <= 0 {
			n := len(batch)
			batch = w.gather(batch, w.relay)
			if first.relay || len(batch) > n {
				w.relayTurn = time.Now()
			}
		}
		if allLazy(batch) && len(batch) < w.maxBatch {
			batch = w.gatherLazy(batch)
		}
		w.commit(batch)
		w.load.weigh(batch)
		if w.finishCkpt.Swap(false) {
			checkpoint(w.conn, w.log) // the frames the checkpointer left
		}
	}
}

// next waits for a write, a caller's before the relay's, and returns nil on
// close. While the relay's writes must wait, it does not take them.
func (w *writer) next() *op {
	select {
	case o := <-w.callers:
		return o
	default:
	}
	var relay chan *op // nil, never ready, until the relay's turn
	var turn <-chan time.Time
	if wait := w.relayWait(); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		turn = t.C
	} else {
		relay = w.relay
	}
	for {
		select {
		case o := <-w.callers:
			return o
		case o := <-relay:
			return o
		case <-turn:
			relay, turn = w.relay, nil
		case <-w.quit:
			return nil
		}
	}
}

// relayWait is how long yet the relay's writes must wait for their turn:
// nothing while the writer keeps up with the callers, or sits idle.
func (w *writer) relayWait() time.Duration {
	if !w.load.bursting() {
		return 0
	}
	return relayMaxWait - time.Since(w.relayTurn)
}

// drain commits the writes still waiting at close, each alone.
func (w *writer) drain() {
	for {
		select {
		case o := <-w.callers:
			w.commit([]*op{o})
		case o := <-w.relay:
			w.commit([]*op{o})
		default:
			return
		}
	}
}

// gather adds the writes already waiting in lane to batch, up to maxBatch.
func (w *writer) gather(batch []*op, lane chan *op) []*op {
	for len(batch) < w.maxBatch {
		select {
		case o := <-lane:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func allLazy(batch []*op) bool {
	for _, o := range batch {
		if !o.lazy {
			return false
		}
	}
	return true
}

// gatherLazy waits up to lazyWait for more writes to join a batch of lazy
// ones, and stops at the first that is not lazy, or when the batch is full.
func (w *writer) gatherLazy(batch []*op) []*op {
	t := time.NewTimer(lazyWait)
	defer t.Stop()
	for len(batch) < w.maxBatch {
		var o *op
		select {
		case o = <-w.relay:
		case o = <-w.callers:
		case <-t.C:
			return batch
		case <-w.quit:
			return batch
		}
		batch = append(batch, o)
		if !o.lazy {
			return w.gather(w.gather(batch, w.callers), w.relay)
		}
	}
	return batch
}

// commit runs the batch in one transaction. If that fails, each write is
// tried alone, so that one bad write never fails its neighbours.
func (w *writer) commit(batch []*op) {
	if w.failGuarded(batch) {
		return
	}
	start := time.Now()
	err := w.runTx(batch)
	if err == nil && w.failGuarded(batch) {
		return
	}
	if err == nil {
		if w.observer != nil {
			w.observer.Committed(len(batch), time.Since(start))
		}
		w.lastErr.Store(nil)
		for _, o := range batch {
			o.done <- nil
		}
		return
	}
	if len(batch) == 1 {
		w.fail(batch[0], err)
		return
	}
	for _, o := range batch {
		if err := w.runTx([]*op{o}); err != nil {
			w.fail(o, err)
			continue
		}
		w.lastErr.Store(nil)
		o.done <- nil
	}
}

func (w *writer) fail(o *op, err error) {
	err = describe(err)
	if sidecar.ErrorCode(err) == sidecar.EUnavailable {
		w.lastErr.Store(&err)
	}
	o.done <- err
}

func (w *writer) runTx(batch []*op) error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	sqlTx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &txn{Tx: sqlTx, prepared: w.prepared}
	for _, o := range batch {
		if err := o.fn(tx); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// txn is a batch's transaction. The statements its writes run through exec
// are prepared once a batch, not once a write: a batch of records or claims
// runs the same few statements for every event.
type txn struct {
	*sql.Tx
	prepared map[string]*sql.Stmt // the writer's, prepared once on its connection
	stmts    map[string]*sql.Stmt
}

// exec runs query with args through the batch's prepared statement.
func (t *txn) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

// queryRow is QueryRow through the batch's prepared statement.
func (t *txn) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.QueryRow(query, args...) // fails the same way, with its error
	}
	return st.QueryRow(args...)
}

func (t *txn) stmt(query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	var err error
	if p, ok := t.prepared[query]; ok {
		st = t.Stmt(p) // prepared on this connection already: no new prepare
	} else if st, err = t.Prepare(query); err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[query] = st
	return st, nil
}

// load is the burst detector. A burst is when, in the last loadWindow, the
// writer waited for writes less than half the time, and its commits of
// callers' writes carried crowd of them or more each: the writer is what
// the callers wait for. The writer's time is what it did not spend waiting
// for writes: commits, and the checkpoints it finishes between them.
type load struct {
	until atomic.Int64 // while a burst lasts, a little past the last weighing (Unix ns); 0 without one. Read by Stats

	// The writer goroutine's own: the window being weighed, the time it
	// waited for writes in it, how many callers' writes it committed, in
	// how many commits.
	window  time.Time
	idle    time.Duration
	callers int
	commits int
}

// bursting reports whether a burst keeps the writer busy: its last weighing
// said so, and it was not long ago (an idle writer weighs nothing).
func (l *load) bursting() bool {
	return time.Now().UnixNano() < l.until.Load()
}

// weigh adds a commit to the window and, once the window is over, decides
// whether a burst is on.
func (l *load) weigh(batch []*op) {
	if n := len(batch) - countRelay(batch); n > 0 {
		l.callers += n
		l.commits++
	}
	now := time.Now()
	if took := now.Sub(l.window); took >= loadWindow {
		until := int64(0)
		if l.commits > 0 && 2*l.idle < took && l.callers >= crowd*l.commits {
			until = now.Add(2 * loadWindow).UnixNano()
		}
		l.until.Store(until)
		l.window, l.idle, l.callers, l.commits = now, 0, 0, 0
	}
}

func countRelay(batch []*op) int {
	n := 0
	for _, o := range batch {
		if o.relay {
			n++
		}
	}
	return n
}
