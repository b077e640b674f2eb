package sidecar

import (
	"encoding/json"
	"fmt"
)

// What every Store keeps the same way: the rules, not the SQL, which is
// each store's own.

// MaxStoredBody bounds an upstream answer kept on an event or attempt.
const MaxStoredBody = 2048

// StoredBody is an upstream answer as a store keeps it: its first
// MaxStoredBody bytes, and "…" when it was cut.
func StoredBody(s string) string {
	if len(s) <= MaxStoredBody {
		return s
	}
	return s[:MaxStoredBody] + "…"
}

// MaxUncountedRows caps the attempt rows of one event that a paused relay's
// probes write: identical probes collapse into one row, and past the cap the
// last row stands for every later one. A day of probes with a bad token
// writes a few rows, not 1,400.
const MaxUncountedRows = 10

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
// MaxUncountedRows of them; 0 when a gets a row of its own.
func (r AttemptRows) FoldInto(a Attempt) int64 {
	switch {
	case r.LastID == 0:
		return 0
	case r.Last.Outcome == a.Outcome && r.Last.Status == a.Status && r.Last.Error == a.Error && r.Last.Body == StoredBody(a.Body):
		return r.LastID
	case r.Paused >= MaxUncountedRows:
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
