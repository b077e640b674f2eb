package sidecar

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// What every Store keeps the same way: the rules, not the SQL, which is
// each store's own.

// MaxStoredBody bounds an upstream answer kept on an event or attempt.
const MaxStoredBody = 2048

// StoredBody is an upstream answer as a store keeps it: CleanText, its
// first MaxStoredBody bytes (cut between characters), and "…" when it was
// cut.
func StoredBody(s string) string {
	s = CleanText(s)
	if len(s) <= MaxStoredBody {
		return s
	}
	return Clip(s, MaxStoredBody) + "…"
}

// CleanText is s as every store can keep it: valid UTF-8 (a byte that is
// not becomes U+FFFD) and no NUL bytes, which PostgreSQL's text refuses
// where SQLite takes them. What strangers and the upstream send (paths,
// user agents, answers) passes through it before it is stored.
func CleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// Clip is CleanText(s) cut to at most n bytes, between two characters.
func Clip(s string, n int) string {
	s = CleanText(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// maxUncountedRows caps the attempt rows of one event that a paused relay's
// probes write: identical probes collapse into one row, and past the cap the
// last row stands for every later one. A day of probes with a bad token
// writes a few rows, not 1,400.
const maxUncountedRows = 10

// AttemptRows is what a store reads of an event's attempt rows before it
// records an uncounted attempt (Result.Uncounted).
type AttemptRows struct {
	LastID       int64   // the event's last attempt row; 0 when it has none
	Last         Attempt // that row, its Body as stored
	Paused       int     // how many of its rows are a paused relay's (outcome "paused")
	LastPausedID int64   // the last of those
}

// FoldInto is the row an uncounted attempt a folds into (its repeats
// counted up, its answer the last one): the event's last row when a draws
// the same answer, else the last paused row once the event has
// maxUncountedRows of them; 0 when a gets a row of its own.
func (r AttemptRows) FoldInto(a Attempt) int64 {
	switch {
	case r.LastID == 0:
		return 0
	case r.Last.Outcome == a.Outcome && r.Last.Status == a.Status && r.Last.Error == a.Error && r.Last.Body == StoredBody(a.Body):
		return r.LastID
	case r.Paused >= maxUncountedRows:
		return r.LastPausedID
	}
	return 0
}

// DecodePayload sets the event's conversion from the payload a store kept.
func (e *Event) DecodePayload(payload []byte) error {
	if err := json.Unmarshal(payload, &e.Conversion); err != nil {
		return fmt.Errorf("event %s: payload: %w", e.ID, err)
	}
	return nil
}

// Columns are the click as every store inserts it, in the clicks table's
// order: click_id, at (Unix milliseconds), ip, user_agent, path, referrer,
// utm (JSON, "" for none), top_level and net (its Range); its text
// Stored.
func (c Click) Columns() []any {
	c = c.Stored()
	var utm []byte
	if len(c.UTM) > 0 {
		utm, _ = json.Marshal(c.UTM)
	}
	return []any{c.ClickID, c.At.UnixMilli(), c.IP, c.UserAgent, c.Path, c.Referrer, string(utm), c.TopLevel, c.Range()}
}

// Stored is the click as every store keeps it: its text CleanText'd.
func (c Click) Stored() Click {
	c.ClickID, c.IP, c.UserAgent = CleanText(c.ClickID), CleanText(c.IP), CleanText(c.UserAgent)
	c.Path, c.Referrer = CleanText(c.Path), CleanText(c.Referrer)
	if len(c.UTM) > 0 {
		utm := make(map[string]string, len(c.UTM))
		for k, v := range c.UTM {
			utm[CleanText(k)] = CleanText(v)
		}
		c.UTM = utm
	}
	return c
}

// UniqueIDs is ids with each id once, in their order: an operator's
// `retry ID ID` requeues the event once, on every store.
func UniqueIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ErasedError is the refusal to retry an event whose personal data
// retention erased: sent again, it would go without its email, IP and
// session token, and be attributed by whatever was left, or not at all.
func ErasedError(id string) error {
	return &Error{Code: EConflict, Message: "event " + id + " can no longer be retried: its email, IP and session token were erased after GLP_RETENTION", Err: ErrNotRetryable}
}

// Times are kept as Unix milliseconds in every store.

// MS is t as a store keeps it: Unix milliseconds.
func MS(t time.Time) int64 { return t.UnixMilli() }

// FromMS is a time a store kept: 0 is no time.
func FromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// EventColumns are the events table's columns, as every store names them,
// in the order ScanEvent reads them.
const EventColumns = `id, idem_key, payload, test, click_source, state, attempts, next_attempt_at, lease_until, last_status, last_error, last_body,
	upstream_conversion_id, upstream_click_id, upstream_recorded_at, created_at, queued_at, updated_at, finished_at, erased,
	landed, possible_double, refused_alone, last_refused_at`

// Scanner is a row to read: database/sql's Row and Rows, pgx's.
type Scanner interface {
	Scan(dest ...any) error
}

// ScanEvent reads a row of EventColumns, its payload decoded.
func ScanEvent(row Scanner) (Event, error) {
	e, payload, err := ScanEventRow(row)
	if err != nil {
		return e, err
	}
	return e, e.DecodePayload(payload)
}

// ScanEventRow reads a row of EventColumns, and returns its payload as
// stored: a record does not need it decoded, and a claim decodes it after
// its transaction.
func ScanEventRow(row Scanner) (Event, []byte, error) {
	var e Event
	var key *string
	var payload []byte
	var next, created, queued, updated int64
	var lease, finished, refusedAt *int64
	err := row.Scan(&e.ID, &key, &payload, &e.Test, &e.ClickSource, &e.State, &e.Attempts, &next, &lease, &e.LastStatus, &e.LastError, &e.LastBody,
		&e.Upstream.ConversionID, &e.Upstream.ClickID, &e.Upstream.RecordedAt, &created, &queued, &updated, &finished, &e.Erased,
		&e.Landed, &e.PossibleDouble, &e.RefusedAlone, &refusedAt)
	if err != nil {
		return e, nil, err
	}
	if key != nil {
		e.Key = *key
	}
	e.NextAttemptAt, e.LeaseUntil = FromMS(next), FromMS(deref(lease))
	e.CreatedAt, e.QueuedAt, e.UpdatedAt, e.FinishedAt = FromMS(created), FromMS(queued), FromMS(updated), FromMS(deref(finished))
	e.LastRefusedAt, e.MayHaveLanded = FromMS(deref(refusedAt)), e.Landed > 0
	return e, payload, nil
}

// Rows are the rows of a query to read in turn: database/sql's Rows,
// pgx's. The caller closes them.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// ScanEventRows reads every row of a query of EventColumns, with their
// payloads as stored (ScanEventRow).
func ScanEventRows(rows Rows) ([]Event, [][]byte, error) {
	var events []Event
	var payloads [][]byte
	for rows.Next() {
		e, payload, err := ScanEventRow(rows)
		if err != nil {
			return nil, nil, err
		}
		events, payloads = append(events, e), append(payloads, payload)
	}
	return events, payloads, rows.Err()
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
