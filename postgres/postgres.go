// Package postgres keeps the sidecar's outbox and click log in PostgreSQL
// (GLP_DB_URL), through pgx's pool, shared by every sidecar that names the
// same database. It has the SQLite file's semantics (package sqlite; the
// contract is sidecar.Store and package storetest tests both), and what a
// fleet adds: claims that skip the rows another sidecar holds (FOR UPDATE
// SKIP LOCKED), wake-ups across sidecars by LISTEN/NOTIFY, and migrations run
// on start under an advisory lock.
//
// Every write is committed before the method returns: an accept is
// answered once PostgreSQL has committed it, as durable as the server's
// synchronous_commit makes it (on, its default, is what an answered 202
// needs). Concurrent accepts and records share a transaction (writer.go).
// A change of an event's life reads its rows FOR UPDATE, asks
// sidecar.Transition, and writes what it decided in the same transaction
// (transition.go); the files and their functions are the SQLite store's.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Defaults.
const (
	DefaultMaxConns = 32                        // the pool's size unless the URL's pool_max_conns says otherwise
	Channel         = "glp_sidecar_events"      // the NOTIFY channel: events queued or requeued
	migrationLock   = int64(0x676c705f73696465) // pg_advisory_lock key: "glp_side"
	connectTimeout  = 10 * time.Second          // connecting, unless the URL's connect_timeout says otherwise
	listenRetry     = time.Second               // between attempts to listen again after the connection broke
	finishTimeout   = 10 * time.Second          // writes that finish work, detached from their caller's context
	unavailableMsg  = "the outbox cannot store events now"
	appenders       = 4 // batches of appends in flight at once
	recorders       = 2 // batches of records in flight at once
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure a Store.
type Options struct {
	URL      string                 // postgres:// or postgresql://; pgx's parameters (pool_max_conns, sslmode…) apply
	MaxConns int                    // 0: the URL's pool_max_conns, else DefaultMaxConns
	Logger   *slog.Logger           // nil discards
	Now      func() time.Time       // nil is time.Now
	Observer sidecar.CommitObserver // nil: not observed
}

// Store is the outbox in PostgreSQL.
type Store struct {
	pool     *db             // schema.go: the pool, its statements in the store's schema
	connCfg  *pgx.ConnConfig // for the listener's own connection
	password string          // scrubbed from every error and log line
	now      func() time.Time
	log      *slog.Logger

	maxBatch int
	observer sidecar.CommitObserver
	lastErr  atomic.Pointer[error]
	appends  chan *appendReq
	records  chan *recordReq
	batchers sync.WaitGroup
	mu       sync.RWMutex // guards closed against appends racing Close
	closed   bool
	poke     chan struct{} // a NOTIFY is due
	quit     chan struct{} // Close: the appenders stop
	stopNote chan struct{} // Close, once the appenders stopped: the notifier stops
	done     chan struct{} // the notifier stopped
	once     sync.Once
}

var _ sidecar.Store = (*Store)(nil)

// Open connects to the database, migrates it under an advisory lock (so
// that sidecars starting together do not race) and returns the store. Its
// errors never contain the URL's password.
func Open(ctx context.Context, opts Options) (*Store, error) {
	return open(ctx, opts, sidecar.DefaultMaxBatch)
}

// open is Open with the most appends (records) one statement stores; the
// tests' benchmark sets 1 (export_test.go).
func open(ctx context.Context, opts Options, maxBatch int) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	password, err := checkURL(opts.URL)
	if err != nil {
		return nil, err
	}
	s := &Store{
		maxBatch: maxBatch, observer: opts.Observer, password: password, now: opts.Now, log: opts.Logger,
		appends: make(chan *appendReq, 4*maxBatch), records: make(chan *recordReq, 4*maxBatch),
		poke: make(chan struct{}, 1), quit: make(chan struct{}), stopNote: make(chan struct{}), done: make(chan struct{}),
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: the database URL does not parse: %w", s.scrub(err))
	}
	if cfg.ConnConfig.Password != "" { // from the URL, PGPASSWORD or PGPASSFILE
		s.password = cfg.ConnConfig.Password
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = int32(opts.MaxConns)
	case !strings.Contains(opts.URL, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if !strings.Contains(opts.URL, "default_query_exec_mode") { // pooler.go: works through PgBouncer in transaction mode
		cfg.ConnConfig.DefaultQueryExecMode = DefaultQueryExecMode
	}
	// The URL's search_path names the store's schema (schema.go), and is
	// not sent: a pooler in transaction mode refuses it at start-up.
	schema := schemaOf(cfg.ConnConfig.RuntimeParams["search_path"])
	delete(cfg.ConnConfig.RuntimeParams, "search_path")
	s.connCfg = cfg.ConnConfig.Copy()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", s.scrub(err))
	}
	s.pool = &db{Pool: pool, name: schema, schema: pgx.Identifier{schema}.Sanitize()}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("connect to the outbox database %s: %w", Describe(opts.URL), s.describe(err))
	}
	s.warnSettings(ctx, opts.URL, cfg.ConnConfig.Config) // warnings.go: synchronous_commit off, TLS unverified
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("migrate the outbox in %s: %w", Describe(opts.URL), s.scrub(err))
	}
	for i := 0; i < appenders; i++ {
		s.batchers.Add(1)
		go batchLoop(s, s.appends, s.appendBatch, func(r *appendReq) chan error { return r.done })
	}
	for i := 0; i < recorders; i++ {
		s.batchers.Add(1)
		go batchLoop(s, s.records, s.recordBatch, func(r *recordReq) chan error { return r.done })
	}
	go s.notifier()
	return s, nil
}

// checkURL returns the URL's password, so that it can be scrubbed, and
// refuses what is not a postgres URL without quoting it.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("postgres: the database URL is not a URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", errors.New("postgres: the database URL must start with postgres:// or postgresql://")
	}
	password, _ := u.User.Password()
	if p := u.Query().Get("password"); p != "" {
		password = p
	}
	return password, nil
}

// Describe is the URL fit for logs: scheme, user, host and database, no
// password and no parameters.
func Describe(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres"
	}
	d := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		d.User = url.User(u.User.Username())
	}
	return d.String()
}

// scrub replaces the password wherever it appears in err's text; the
// chain stays reachable for errors.Is and errors.As.
func (s *Store) scrub(err error) error {
	if err == nil || s.password == "" || !strings.Contains(err.Error(), s.password) {
		return err
	}
	return &scrubbed{err: err, text: strings.ReplaceAll(err.Error(), s.password, "xxxxx")}
}

type scrubbed struct {
	err  error
	text string
}

func (e *scrubbed) Error() string { return e.text }
func (e *scrubbed) Unwrap() error { return e.err }

// Close stores the appends and records already submitted, stops the notifier after it
// has sent the wake-up its writes owe the fleet, and closes the pool.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		s.batchers.Wait()
		close(s.stopNote)
		<-s.done
		s.pool.Close()
	})
	return nil
}

// Writable rewrites one row to learn whether the database takes writes.
func (s *Store) Writable(ctx context.Context) error {
	_, err := s.exec(ctx, `UPDATE glp.probe SET at = $1 WHERE id = 1`, sidecar.MS(s.now()))
	return err
}

// LastWriteError is the error of the last write that failed for want of the
// database, or nil once a write has succeeded since.
func (s *Store) LastWriteError() error {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// wrote notes a write's outcome for LastWriteError and returns its error
// described: an EUnavailable sidecar error when the database cannot take
// it now (down, unreachable, read-only, out of room), scrubbed.
func (s *Store) wrote(err error) error {
	if err == nil {
		s.lastErr.Store(nil)
		return nil
	}
	err = s.describe(err)
	if sidecar.ErrorCode(err) == sidecar.EUnavailable {
		s.lastErr.Store(&err)
	}
	return err
}

// describe turns "cannot write now" into an EUnavailable error, which the
// public listener answers with 503 and a Retry-After.
func (s *Store) describe(err error) error {
	err = s.scrub(err)
	var described *sidecar.Error
	if err == nil || errors.Is(err, context.Canceled) || errors.As(err, &described) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "25006", // read_only_sql_transaction: a standby, or default_transaction_read_only
			strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources: disk full, out of memory, too many connections
			strings.HasPrefix(pe.Code, "57"), // operator intervention: shutting down, cannot connect now
			strings.HasPrefix(pe.Code, "58"), // system error: I/O
			poolerFault(pe.Code):             // a pooler lost a prepared statement (pooler.go)
			return &sidecar.Error{Code: sidecar.EUnavailable, Message: unavailableMsg + ": " + pe.Message, Err: err}
		case conflict(err): // still conflicting after conflictRetries runs (tx.go): rolled back, nothing stored
			return &sidecar.Error{Code: sidecar.EUnavailable, Message: unavailableMsg + ": its transactions kept conflicting with others'", Err: err}
		case strings.HasPrefix(pe.Code, "22"): // data exception: a value the database cannot store (an invalid byte sequence, say)
			return &sidecar.Error{Code: sidecar.EInvalid, Message: "The database refused a value of this conversion as invalid data (" + pe.Message + "); nothing was stored",
				Fields: map[string]string{"body": "a value the database cannot store: " + pe.Message}, Err: errors.Join(sidecar.ErrDataRefused, err)}
		}
		return err
	}
	if unreachable(err) {
		return &sidecar.Error{Code: sidecar.EUnavailable, Message: unavailableMsg + ": the database cannot be reached", Err: err}
	}
	return err
}

// unreachable reports whether err says the connection failed, or no
// connection could be had in time, rather than that the statement was wrong.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, context.DeadlineExceeded)
}

// exec runs one statement, notes the write, and returns how many rows it
// changed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int, error) {
	var tag pgconn.CommandTag
	err := retryConflicts(ctx, func() (err error) { tag, err = s.pool.Exec(ctx, query, args...); return err })
	if err := s.wrote(err); err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
