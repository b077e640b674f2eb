package sqlite

import (
	"encoding/json"
	"fmt"
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
	return sidecar.ScanEventRows(rows)
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

// transitionAll applies h to each event, as sidecar.Transition decides,
// writes those it applied to (writeEvents), and returns them as written.
// The first refusal ends it, unless skip says to pass over it.
func transitionAll(tx *txn, events []sidecar.Event, h sidecar.Happening, now time.Time, skip func(error) bool) ([]sidecar.Event, error) {
	var was, changed []sidecar.Event
	for _, e := range events {
		next, ok, err := sidecar.Transition(e, h, now)
		if err != nil && (skip == nil || !skip(err)) {
			return nil, err
		}
		if ok && err == nil {
			was, changed = append(was, e), append(changed, next)
		}
	}
	return changed, writeEvents(tx, was, changed)
}

// column is one column of an event's row that a transition may change, its
// value before and after.
type column struct {
	name     string
	old, new any
}

// changes are the columns of the event's row that a transition from was
// to e changed, updated_at always.
func changes(was, e sidecar.Event) []column {
	all := []column{
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
	}
	changed := all[:0]
	for _, c := range all {
		if c.old != c.new {
			changed = append(changed, c)
		}
	}
	return changed
}

// writeEvent writes the columns of the event's row that a transition from
// was to e changed. Only those: SQLite rewrites the entries of every index
// on a column an UPDATE sets, changed or not.
func writeEvent(tx *txn, was, e sidecar.Event) error {
	var set strings.Builder
	var args []any
	for i, c := range changes(was, e) {
		if i > 0 {
			set.WriteString(", ")
		}
		set.WriteString(c.name + " = ?")
		args = append(args, c.new)
	}
	_, err := tx.exec(`UPDATE events SET `+set.String()+` WHERE id = ?`, append(args, e.ID)...)
	return err
}

// writeEvents writes several events' rows as writeEvent does, those that
// changed the same columns in one statement, their values handed to it as
// JSON: a claim of n events is one write, not n.
func writeEvents(tx *txn, was, events []sidecar.Event) error {
	if len(events) == 1 {
		return writeEvent(tx, was[0], events[0])
	}
	type group struct {
		names []string
		rows  [][]any
	}
	var order []string
	groups := map[string]*group{}
	for i, e := range events {
		cols := changes(was[i], e)
		names := make([]string, len(cols))
		row := make([]any, 0, len(cols)+1)
		for j, c := range cols {
			names[j], row = c.name, append(row, c.new)
		}
		key := strings.Join(names, ",")
		g := groups[key]
		if g == nil {
			g = &group{names: names}
			groups[key], order = g, append(order, key)
		}
		g.rows = append(g.rows, append(row, e.ID))
	}
	for _, key := range order {
		g := groups[key]
		var set strings.Builder
		for j, name := range g.names {
			if j > 0 {
				set.WriteString(", ")
			}
			fmt.Fprintf(&set, "%s = json_extract(d.value, '$[%d]')", name, j)
		}
		rows, err := json.Marshal(g.rows)
		if err != nil {
			return err
		}
		if _, err := tx.exec(fmt.Sprintf(`UPDATE events SET %s FROM json_each(?) AS d WHERE events.id = json_extract(d.value, '$[%d]')`,
			set.String(), len(g.names)), string(rows)); err != nil {
			return err
		}
	}
	return nil
}

// nullMS is t in milliseconds, or NULL for no time.
func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return sidecar.MS(t)
}
