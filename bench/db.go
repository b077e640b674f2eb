package bench

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "github.com/jackc/pgx/v5/stdlib" // reads the outbox's timings on PostgreSQL after a run
)

// outboxDB is where one run's sidecar keeps its outbox: a file in the
// bench's directory, or, with a database URL, a schema of its own in that
// PostgreSQL database (made for the run and dropped after it: the bench
// never touches the database's other tables).
type outboxDB struct {
	path   string // the SQLite file, when url is ""
	url    string // the sidecar's URL: the database's, with the run's schema as search_path
	schema string
	admin  string // the database's URL as given, to make and drop the schema
}

// outbox makes a fresh outbox for run.
func (o Options) outbox(run string) (outboxDB, error) {
	if o.DBURL == "" {
		return outboxDB{path: filepath.Join(o.Dir, run+".db")}, nil
	}
	d := outboxDB{schema: "glp_bench_" + run, admin: o.DBURL}
	u, err := url.Parse(o.DBURL)
	if err != nil {
		return d, fmt.Errorf("bench: the database URL does not parse")
	}
	q := u.Query()
	q.Set("search_path", d.schema)
	u.RawQuery = q.Encode()
	d.url = u.String()
	db, err := sql.Open("pgx", d.admin)
	if err != nil {
		return d, err
	}
	defer db.Close()
	if _, err := db.Exec(`DROP SCHEMA IF EXISTS ` + d.schema + ` CASCADE; CREATE SCHEMA ` + d.schema); err != nil {
		return d, fmt.Errorf("bench: make the run's schema: %w", err)
	}
	return d, nil
}

// env is the sidecar's variable that names the outbox.
func (d outboxDB) env() string {
	if d.url != "" {
		return "GLP_DB_URL=" + d.url
	}
	return "GLP_DB_PATH=" + d.path
}

// open opens a stopped sidecar's outbox for reading.
func (d outboxDB) open() (*sql.DB, error) {
	if d.url != "" {
		return sql.Open("pgx", d.url)
	}
	return sql.Open("sqlite3", "file:"+d.path+"?mode=ro")
}

// size is the outbox's size on disk: the file and its WAL, or the tables
// with their indexes and TOAST.
func (d outboxDB) size(db *sql.DB) int64 {
	if d.url != "" {
		var n int64
		db.QueryRow(`SELECT pg_total_relation_size('events') + pg_total_relation_size('attempts')`).Scan(&n)
		return n
	}
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(d.path + suffix); err == nil {
			size += st.Size()
		}
	}
	return size
}

// finishedAt is the query for the k-th finishing time of a drained outbox.
func (d outboxDB) finishedAt(k int) string {
	if d.url != "" {
		return fmt.Sprintf(`SELECT finished_at FROM events WHERE finished_at IS NOT NULL AND NOT erased ORDER BY finished_at LIMIT 1 OFFSET %d`, k)
	}
	return fmt.Sprintf(`SELECT finished_at FROM events INDEXED BY events_finished
			WHERE finished_at IS NOT NULL AND erased = 0 ORDER BY finished_at LIMIT 1 OFFSET %d`, k)
}

// drop removes the run's schema; a file goes with the bench's directory.
func (d outboxDB) drop() {
	if d.url == "" {
		return
	}
	if db, err := sql.Open("pgx", d.admin); err == nil {
		db.Exec(`DROP SCHEMA IF EXISTS ` + d.schema + ` CASCADE`)
		db.Close()
	}
}
