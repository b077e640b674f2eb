package sidecar

import (
	"bufio"
	"context"
	"io"
	"strings"
	"time"
)

// The reconciliation report's limits and defaults.
const (
	DayLayout         = "2006-01-02"
	maxReportDays     = 366 // one request covers a year at most
	defaultReportDays = 30  // from is this many days back from to, to included, unless given
)

// ReportDay is one day of the reconciliation report: the events accepted
// that day (in the report's zone), by the state they are in now.
type ReportDay struct {
	Day            string `json:"day"`
	Accepted       int    `json:"accepted"`
	Delivered      int    `json:"delivered"`
	Duplicate      int    `json:"duplicate"`
	Rejected       int    `json:"rejected"`
	Unconfirmed    int    `json:"unconfirmed"`
	Dead           int    `json:"dead"`
	Queued         int    `json:"queued"`
	PossibleDouble int    `json:"possible_double"`

	Start time.Time `json:"-"` // the day's first instant
	End   time.Time `json:"-"` // the next day's first instant
}

// Add counts n events of the day in state s, of which doubles may be held
// twice by GLP Winner.
func (d *ReportDay) Add(s State, n, doubles int) {
	d.Accepted += n
	d.PossibleDouble += doubles
	switch s {
	case StateDelivered:
		d.Delivered += n
	case StateDuplicate:
		d.Duplicate += n
	case StateRejected:
		d.Rejected += n
	case StateUnconfirmed:
		d.Unconfirmed += n
	case StateDead:
		d.Dead += n
	case StateQueued:
		d.Queued += n
	}
}

// ReportQuery is what a report covers: the days from From to To, both
// included, in Loc; live events, or test events when Test.
type ReportQuery struct {
	From, To time.Time // midnight of the first and the last day, in Loc
	Loc      *time.Location
	Test     bool
}

// ParseReportQuery reads a report's days (YYYY-MM-DD) and time zone (an
// IANA name such as Europe/Berlin; "" is UTC). An empty to is today in the
// zone, an empty from the defaultReportDays up to to. A wrong value is an
// EInvalid error that names the field.
func ParseReportQuery(from, to, tz string, test bool, now time.Time) (ReportQuery, error) {
	bad := func(field, why string) (ReportQuery, error) {
		return ReportQuery{}, &Error{Code: EInvalid, Message: "Invalid report range", Fields: map[string]string{field: why}}
	}
	q := ReportQuery{Loc: time.UTC, Test: test}
	if tz != "" && !strings.EqualFold(tz, "UTC") {
		loc, err := time.LoadLocation(tz)
		if err != nil || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
			return bad("tz", "must be an IANA time zone such as Europe/Berlin")
		}
		q.Loc = loc
	}
	today := now.In(q.Loc)
	q.To = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, q.Loc)
	if to != "" {
		t, err := time.ParseInLocation(DayLayout, to, q.Loc)
		if err != nil {
			return bad("to", "must be a day as YYYY-MM-DD")
		}
		q.To = t
	}
	q.From = q.To.AddDate(0, 0, -(defaultReportDays - 1))
	if from != "" {
		f, err := time.ParseInLocation(DayLayout, from, q.Loc)
		if err != nil {
			return bad("from", "must be a day as YYYY-MM-DD")
		}
		q.From = f
	}
	switch {
	case q.From.After(q.To):
		return bad("from", "must not be after to")
	case !q.From.AddDate(0, 0, maxReportDays).After(q.To):
		return bad("from", "the range covers at most 366 days")
	}
	return q, nil
}

// Days are the report's days, each with its bounds: a day in a zone with
// daylight saving time may last 23 or 25 hours.
func (q ReportQuery) Days() []ReportDay {
	var days []ReportDay
	for d := q.From; !d.After(q.To); {
		next := time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, q.Loc)
		days = append(days, ReportDay{Day: d.Format(DayLayout), Start: d, End: next})
		d = next
	}
	return days
}

// End is the first instant after the last day: the range is [From, End).
func (q ReportQuery) End() time.Time {
	return time.Date(q.To.Year(), q.To.Month(), q.To.Day()+1, 0, 0, 0, 0, q.Loc)
}

// ReportRow is one event of the reconciliation CSV.
type ReportRow struct {
	EventID         string
	ConversionID    string // the provider's, as sent
	GLPConversionID string // GLP Winner's, from its 201 (or the 200 that named it)
	GLPClickID      string // the click GLP Winner attributed it to, else the click id sent
	State           State
	PossibleDouble  bool
	AcceptedAt      time.Time
	FinishedAt      time.Time
	Test            bool
}

// ReportCSVHeader is the CSV's first line, in the documented order
// (docs/report.md).
var ReportCSVHeader = []string{"event_id", "conversion_id", "glp_conversion_id", "glp_click_id", "state", "possible_double", "accepted_at", "finished_at", "test"}

// WriteReportCSV writes the reconciliation CSV of the query's range to w:
// the header, then one row per event, live and test, oldest first, each
// cell through escape unless it is nil (a terminal's control characters).
// An error of the store midway is returned as it is, after the rows written
// so far: the caller must not present what it wrote as whole.
func WriteReportCSV(ctx context.Context, w io.Writer, src Reports, q ReportQuery, escape func(string) string) error {
	cw := NewCSVWriter(w) // every field quoted
	if err := cw.Write(ReportCSVHeader); err != nil {
		return err
	}
	err := src.ReportRows(ctx, q, func(r ReportRow) error {
		cells := r.CSV()
		if escape != nil {
			for i := range cells {
				cells[i] = escape(cells[i])
			}
		}
		return cw.Write(cells)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// CSV is the row's cells. Times are RFC 3339 in UTC (finished_at empty
// while queued). Every cell that a spreadsheet could take for a formula,
// in any locale, is made inert (inert).
func (r ReportRow) CSV() []string {
	finished := ""
	if !r.FinishedAt.IsZero() {
		finished = r.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	return []string{inert(r.EventID), inert(r.ConversionID), inert(r.GLPConversionID), inert(r.GLPClickID), string(r.State),
		boolCell(r.PossibleDouble), r.AcceptedAt.UTC().Format(time.RFC3339Nano), finished, boolCell(r.Test)}
}

func boolCell(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// Where a spreadsheet may start a cell, and what starts a formula there.
const (
	cellSeparators = ",;|\t\r\n" // , ; | tab: the separators of every locale; CR LF: a line
	formulaStarts  = "=+-@\t\r"
)

// inert keeps a spreadsheet from running any part of a cell as a formula,
// whatever separator it splits lines on (Excel's is ; in most European
// locales) and whoever wrote the value (a visitor, or GLP Winner): wherever
// a cell could start, at the value's start or after any of , ; | tab CR LF
// inside it, past spaces and quotes, a character that starts a formula
// (= + - @ tab CR) gets an apostrophe before it.
func inert(s string) string {
	var b []byte
	copied := 0 // s[:copied] is in b
	cellStart := true
	for i := 0; i < len(s); i++ {
		if cellStart {
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '"') {
				j++
			}
			if j < len(s) && strings.IndexByte(formulaStarts, s[j]) >= 0 {
				b = append(append(b, s[copied:j]...), '\'')
				copied = j
			}
		}
		cellStart = strings.IndexByte(cellSeparators, s[i]) >= 0
	}
	if b == nil {
		return s
	}
	return string(append(b, s[copied:]...))
}

// CSVWriter writes the report's CSV with every field quoted, so that no
// spreadsheet splits a cell on a separator inside it: encoding/csv's
// Writer quotes only the fields that need it in RFC 4180, where , is the
// only separator. Its methods are csv.Writer's.
type CSVWriter struct {
	w   *bufio.Writer
	err error
}

// NewCSVWriter returns a CSVWriter writing to w.
func NewCSVWriter(w io.Writer) *CSVWriter { return &CSVWriter{w: bufio.NewWriter(w)} }

// Write writes one record, each field quoted, its quotes doubled.
func (c *CSVWriter) Write(record []string) error {
	if c.err != nil {
		return c.err
	}
	for i, f := range record {
		if i > 0 {
			c.w.WriteByte(',')
		}
		c.w.WriteByte('"')
		c.w.WriteString(strings.ReplaceAll(f, `"`, `""`))
		c.w.WriteByte('"')
	}
	_, c.err = c.w.WriteString("\n")
	return c.err
}

// Flush writes what is buffered.
func (c *CSVWriter) Flush() {
	if err := c.w.Flush(); c.err == nil {
		c.err = err
	}
}

// Error is the first error of a Write or Flush.
func (c *CSVWriter) Error() error { return c.err }
