package mockglp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3" // the mock's store is SQLite, like GLP Winner's track_clicks
)

const schema = `
CREATE TABLE IF NOT EXISTS track_clicks (
	id            INTEGER PRIMARY KEY,
	glp_click_id  TEXT    NOT NULL,
	provider_id   INTEGER NOT NULL,
	test          INTEGER NOT NULL,
	ip            TEXT    NOT NULL DEFAULT '',
	email         TEXT    NOT NULL DEFAULT '',
	user_agent    TEXT    NOT NULL DEFAULT '',
	utm           TEXT    NOT NULL DEFAULT '',
	session_token TEXT UNIQUE,
	inferred      INTEGER NOT NULL,
	converted     INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	UNIQUE (provider_id, test, glp_click_id)
);
-- Soft-matching reads the unconverted clicks only: a click leaves this index
-- when it converts, and an inferred click, converted as it is created, never
-- enters it.
DROP INDEX IF EXISTS track_clicks_recent;
CREATE INDEX IF NOT EXISTS track_clicks_unconverted ON track_clicks (provider_id, test, created_at) WHERE converted = 0;
CREATE TABLE IF NOT EXISTS conversions (
	id            INTEGER PRIMARY KEY,
	conversion_id TEXT    NOT NULL UNIQUE,
	click_id      INTEGER NOT NULL UNIQUE REFERENCES track_clicks (id),
	provider_id   INTEGER NOT NULL,
	glp_click_id  TEXT    NOT NULL,
	external_id   TEXT    NOT NULL DEFAULT '',
	email         TEXT    NOT NULL DEFAULT '',
	ip            TEXT    NOT NULL DEFAULT '',
	method        TEXT    NOT NULL,
	test          INTEGER NOT NULL,
	recorded_at   INTEGER NOT NULL
);`

// store is the mock's SQLite database: GLP Winner's track_clicks and the
// conversions recorded on them. One connection serialises every
// transaction, which is what makes "one conversion per click" exact.
type store struct {
	db *sql.DB
}

func openStore(path string) (*store, error) {
	dsn := "file::memory:?_stmt_cache_size=64"
	if path != "" {
		dsn = "file:" + url.PathEscape(path) + "?_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_foreign_keys=on&_stmt_cache_size=64"
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open mock store: %w", err)
	}
	db.SetMaxOpenConns(1) // an in-memory database lives as long as its one connection
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create mock schema: %w", err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// click is a row of track_clicks.
type click struct {
	ID          int64  `json:"-"`
	ClickID     string `json:"glp_click_id"`
	ProviderID  int64  `json:"provider_id"`
	IP          string `json:"ip"`
	Email       string `json:"email"`
	UserAgent   string `json:"user_agent"`
	Inferred    bool   `json:"inferred"`
	Test        bool   `json:"test"`
	Converted   bool   `json:"converted"`
	CreatedAt   string `json:"created_at"`
	UTM         string `json:"utm,omitempty"`
	sessionTok  string
	createdNano int64
}

// conversion is a row of conversions.
type conversion struct {
	ConversionID string `json:"conversion_id"`
	ProviderID   int64  `json:"provider_id"`
	ClickID      string `json:"glp_click_id"`
	ExternalID   string `json:"external_id"`
	Email        string `json:"email"`
	IP           string `json:"ip"`
	Method       string `json:"method"`
	Test         bool   `json:"test"`
	RecordedAt   string `json:"recorded_at"`
}

const clickColumns = `id, glp_click_id, provider_id, ip, email, user_agent, inferred, test, converted, created_at, utm`

func scanClick(row interface{ Scan(...any) error }) (click, error) {
	var c click
	err := row.Scan(&c.ID, &c.ClickID, &c.ProviderID, &c.IP, &c.Email, &c.UserAgent, &c.Inferred, &c.Test, &c.Converted, &c.createdNano, &c.UTM)
	c.CreatedAt = rfc3339(c.createdNano)
	return c, err
}

func rfc3339(nano int64) string { return time.Unix(0, nano).UTC().Format(time.RFC3339Nano) }

// inTx runs fn in one immediate transaction.
func (s *store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// findClick returns the click matched by where (a condition on provider and
// mode is always added), or ok=false.
func findClick(tx *sql.Tx, provider int64, test bool, where string, args ...any) (click, bool, error) {
	q := `SELECT ` + clickColumns + ` FROM track_clicks WHERE provider_id = ? AND test = ? AND ` + where + ` LIMIT 1`
	c, err := scanClick(tx.QueryRow(q, append([]any{provider, test}, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return click{}, false, nil
	}
	return c, err == nil, err
}

// insertClick logs a click. An inferred click is created for the
// conversion that names it, in the same transaction, so it is stored
// converted already.
func insertClick(tx *sql.Tx, c click) (int64, error) {
	res, err := tx.Exec(`INSERT INTO track_clicks (glp_click_id, provider_id, test, ip, email, user_agent, utm, session_token, inferred, converted, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ClickID, c.ProviderID, c.Test, c.IP, c.Email, c.UserAgent, c.UTM, nullIfEmpty(c.sessionTok), c.Inferred, c.Inferred, c.createdNano)
	if err != nil {
		return 0, fmt.Errorf("insert click: %w", err)
	}
	return res.LastInsertId()
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// originalConversion returns the conversion id recorded on a click.
func originalConversion(tx *sql.Tx, clickRow int64) (string, error) {
	var id string
	err := tx.QueryRow(`SELECT conversion_id FROM conversions WHERE click_id = ?`, clickRow).Scan(&id)
	return id, err
}

// insertConversion records conv on the click c and marks c converted,
// unless it was created converted (an inferred click).
func insertConversion(tx *sql.Tx, c click, conv conversion, now int64) error {
	if _, err := tx.Exec(`INSERT INTO conversions (conversion_id, click_id, provider_id, glp_click_id, external_id, email, ip, method, test, recorded_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		conv.ConversionID, c.ID, c.ProviderID, c.ClickID, conv.ExternalID, conv.Email, conv.IP, conv.Method, c.Test, now); err != nil {
		return fmt.Errorf("insert conversion: %w", err)
	}
	if c.Inferred {
		return nil
	}
	if _, err := tx.Exec(`UPDATE track_clicks SET converted = 1 WHERE id = ?`, c.ID); err != nil {
		return fmt.Errorf("mark click converted: %w", err)
	}
	return nil
}

// upsertSessionClick logs a click from the browser SDK's session call, or
// refreshes it when the same click id lands again, and returns its session
// token.
func (s *store) upsertSessionClick(ctx context.Context, c click) (string, error) {
	var token string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, ok, err := findClick(tx, c.ProviderID, c.Test, "glp_click_id = ?", c.ClickID)
		if err != nil {
			return err
		}
		if ok {
			err := tx.QueryRow(`UPDATE track_clicks SET ip = ?, user_agent = ?, email = CASE WHEN ? = '' THEN email ELSE ? END,
				session_token = COALESCE(session_token, ?) WHERE id = ? RETURNING session_token`,
				c.IP, c.UserAgent, c.Email, c.Email, uuid.NewString(), old.ID).Scan(&token)
			return err
		}
		token = uuid.NewString()
		c.sessionTok = token
		_, err = insertClick(tx, c)
		return err
	})
	return token, err
}

func (s *store) clicks(ctx context.Context) ([]click, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+clickColumns+` FROM track_clicks ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []click{}
	for rows.Next() {
		c, err := scanClick(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *store) conversions(ctx context.Context) ([]conversion, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT conversion_id, provider_id, glp_click_id, external_id, email, ip, method, test, recorded_at
		FROM conversions ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []conversion{}
	for rows.Next() {
		var c conversion
		var at int64
		if err := rows.Scan(&c.ConversionID, &c.ProviderID, &c.ClickID, &c.ExternalID, &c.Email, &c.IP, &c.Method, &c.Test, &at); err != nil {
			return nil, err
		}
		c.RecordedAt = rfc3339(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *store) reset(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM conversions; DELETE FROM track_clicks;`)
	return err
}
