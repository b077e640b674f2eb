package sqlite

import (
	"strings"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// What changes an event goes through sidecar.Transition: a write reads the
// event's row in its transaction, asks what the happening does to it, and
// writes the row it gets back. The rules live there; this file keeps the
// rows.

// clock is the store's time as it keeps it, to the millisecond.
func (o *Store) clock() time.Time { return sidecar.FromMS(sidecar.MS(o.now())) }

// readEvent reads one event's row, its payload left undecoded (a record
// does not need it); sql.ErrNoRows when there is none.
func readEvent(tx *txn, id string) (sidecar.Event, []byte, error) {
	return sidecar.ScanEventRow(tx.queryRow(selectEvent, id))
}

const selectEvent = `SELECT ` + sidecar.EventColumns + ` FROM events WHERE id = ?`

// readEvents reads the rows a query of sidecar.EventColumns selects, with their
// payloads undecoded.
func readEvents(tx *txn, query string, args ...any) ([]sidecar.Event, [][]byte, error) {
	rows, err := tx.Query(query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var events []sidecar.Event
	var payloads [][]byte
	for rows.Next() {
		e, payload, err := sidecar.ScanEventRow(rows)
		if err != nil {
			return nil, nil, err
		}
		events, payloads = append(events, e), append(payloads, payload)
	}
	return events, payloads, rows.Err()
}

// transition writes what h does to e, as sidecar.Transition decides, and
// returns the event as written and whether h applied (e when it did not).
func transition(tx *txn, e sidecar.Event, h sidecar.Happening, now time.Time) (sidecar.Event, bool, error) {
	next, ok, err := sidecar.Transition(e, h, now)
	if err != nil || !ok {
		return e, false, err
	}
	return next, true, writeEvent(tx, e, next)
}

// writeEvent writes the columns of the event's row that a transition from
// was to e changed. Only those: SQLite rewrites the entries of every index
// on a column an UPDATE sets, changed or not.
func writeEvent(tx *txn, was, e sidecar.Event) error {
	var set strings.Builder
	var args []any
	for _, c := range []struct {
		name     string
		old, new any
	}{
		{"state", was.State, e.State},
		{"attempts", was.Attempts, e.Attempts},
		{"next_attempt_at", sidecar.MS(was.NextAttemptAt), sidecar.MS(e.NextAttemptAt)},
		{"lease_until", nullMS(was.LeaseUntil), nullMS(e.LeaseUntil)},
		{"last_status", was.LastStatus, e.LastStatus},
		{"last_error", was.LastError, e.LastError},
		{"last_body", was.LastBody, e.LastBody},
		{"upstream_conversion_id", was.Upstream.ConversionID, e.Upstream.ConversionID},
		{"upstream_click_id", was.Upstream.ClickID, e.Upstream.ClickID},
		{"upstream_recorded_at", was.Upstream.RecordedAt, e.Upstream.RecordedAt},
		{"queued_at", sidecar.MS(was.QueuedAt), sidecar.MS(e.QueuedAt)},
		{"updated_at", nil, sidecar.MS(e.UpdatedAt)}, // always: the row was written
		{"finished_at", nullMS(was.FinishedAt), nullMS(e.FinishedAt)},
		{"landed", was.Landed, e.Landed},
		{"possible_double", was.PossibleDouble, e.PossibleDouble},
		{"refused_alone", was.RefusedAlone, e.RefusedAlone},
		{"last_refused_at", nullMS(was.LastRefusedAt), nullMS(e.LastRefusedAt)},
	} {
		if c.old == c.new {
			continue
		}
		if set.Len() > 0 {
			set.WriteString(", ")
		}
		set.WriteString(c.name + " = ?")
		args = append(args, c.new)
	}
	_, err := tx.exec(`UPDATE events SET `+set.String()+` WHERE id = ?`, append(args, e.ID)...)
	return err
}

// nullMS is t in milliseconds, or NULL for no time.
func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return sidecar.MS(t)
}
