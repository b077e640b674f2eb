package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

// Store is the outbox, as the admin API reads and requeues it.
type Store interface {
	StatsSource
	List(ctx context.Context, state sidecar.State, before string, limit int) ([]sidecar.Event, error)
	Get(ctx context.Context, id string) (sidecar.Event, []sidecar.Attempt, error)
	Retry(ctx context.Context, ids ...string) (int, error)
	RetryState(ctx context.Context, state sidecar.State) (int, error)
	Clicks(ctx context.Context, limit int) ([]sidecar.Click, error)
	Report(ctx context.Context, q sidecar.ReportQuery) ([]sidecar.ReportDay, error)
	ReportRows(ctx context.Context, q sidecar.ReportQuery, fn func(sidecar.ReportRow) error) error
}

// Relay is the relay, as the admin API reports and wakes it.
type Relay interface {
	StatusSource
	Notify()
}

const defaultPage = 50

type statsBody struct {
	States         map[sidecar.State]int `json:"states"`
	Total          int                   `json:"total"`
	OldestQueuedAt time.Time             `json:"oldest_queued_at,omitzero"`
	OldestQueuedS  float64               `json:"oldest_queued_age_seconds"`
	Relay          sidecar.RelayStatus   `json:"relay"`
	Burst          bool                  `json:"burst"`
	PossibleDouble int                   `json:"possible_double"`
	Now            time.Time             `json:"now"`
	Refused        map[string]int        `json:"refused"` // refused conversion requests since start, by reason
}

func handleStats(store Store, relay Relay, now func() time.Time, refused func() map[string]int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := store.Stats(r.Context())
		if err != nil {
			answerError(w, err)
			return
		}
		b := statsBody{States: st.States, OldestQueuedAt: st.OldestQueued, Relay: relay.Status(), Burst: st.Burst, PossibleDouble: st.PossibleDouble, Now: now(), Refused: refused()}
		for _, n := range st.States {
			b.Total += n
		}
		if !st.OldestQueued.IsZero() {
			b.OldestQueuedS = b.Now.Sub(st.OldestQueued).Seconds()
		}
		writeJSON(w, http.StatusOK, b)
	})
}

func handleEvents(store Store, policy sidecar.SendPolicy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		state := sidecar.State(q.Get("state"))
		if state != "" && !state.Valid() {
			answerError(w, &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid query", Fields: map[string]string{"state": "must be one of " + sidecar.StateNames(sidecar.States())}})
			return
		}
		limit, err := pageLimit(q.Get("limit"))
		if err != nil {
			answerError(w, err)
			return
		}
		events, err := store.List(r.Context(), state, q.Get("before"), limit)
		if err != nil {
			answerError(w, err)
			return
		}
		next := ""
		if len(events) == limit {
			next = events[len(events)-1].ID
		}
		touched(r, listTarget(r, events))
		writeJSON(w, http.StatusOK, map[string]any{"events": shownEvents(events, policy), "next_before": next})
	})
}

// maxPage is the most a list answers at once.
const maxPage = 500

// pageLimit reads a list's ?limit=: defaultPage when absent.
func pageLimit(v string) (int, error) {
	if v == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		return 0, &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid query", Fields: map[string]string{"limit": fmt.Sprintf("must be a whole number from 1 to %d", maxPage)}}
	}
	return n, nil
}

func handleEvent(store Store, policy sidecar.SendPolicy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		touched(r, "event "+mux.Vars(r)["id"])
		e, attempts, err := store.Get(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			answerError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"event": shownEvents([]sidecar.Event{e}, policy)[0], "attempts": attempts})
	})
}

func handleRetryOne(store Store, relay Relay) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		touched(r, "event "+mux.Vars(r)["id"])
		n, err := store.Retry(context.WithoutCancel(r.Context()), mux.Vars(r)["id"])
		if err != nil {
			answerError(w, err)
			return
		}
		relay.Notify()
		writeJSON(w, http.StatusOK, map[string]int{"requeued": n})
	})
}

func handleRetryState(store Store, relay Relay) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state := sidecar.State(r.URL.Query().Get("state"))
		if !state.Retryable() {
			answerError(w, &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid query", Fields: map[string]string{"state": "must be one of " + sidecar.StateNames(sidecar.RetryableStates())}})
			return
		}
		n, err := store.RetryState(context.WithoutCancel(r.Context()), state)
		touched(r, fmt.Sprintf("state=%s (%d requeued)", state, n))
		if err != nil {
			answerError(w, err)
			return
		}
		relay.Notify()
		writeJSON(w, http.StatusOK, map[string]int{"requeued": n})
	})
}

func handleClicks(store Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, err := pageLimit(r.URL.Query().Get("limit"))
		if err != nil {
			answerError(w, err)
			return
		}
		clicks, err := store.Clicks(r.Context(), limit)
		if err != nil {
			answerError(w, err)
			return
		}
		touched(r, fmt.Sprintf("latest %d clicks (limit %d)", len(clicks), limit))
		writeJSON(w, http.StatusOK, map[string]any{"clicks": clicks})
	})
}

// reportQuery reads a report's from, to, tz and test parameters.
func reportQuery(r *http.Request, now func() time.Time) (sidecar.ReportQuery, error) {
	q := r.URL.Query()
	test := false
	switch v := q.Get("test"); v {
	case "", "false":
	case "true":
		test = true
	default:
		return sidecar.ReportQuery{}, &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid report range", Fields: map[string]string{"test": "must be true or false"}}
	}
	return sidecar.ParseReportQuery(q.Get("from"), q.Get("to"), q.Get("tz"), test, now())
}

type reportBody struct {
	From string              `json:"from"`
	To   string              `json:"to"`
	TZ   string              `json:"tz"`
	Test bool                `json:"test"`
	Days []sidecar.ReportDay `json:"days"`
}

func handleReport(store Store, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := reportQuery(r, now)
		if err != nil {
			answerError(w, err)
			return
		}
		days, err := store.Report(r.Context(), q)
		if err != nil {
			answerError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, reportBody{From: q.From.Format(sidecar.DayLayout), To: q.To.Format(sidecar.DayLayout), TZ: q.Loc.String(), Test: q.Test, Days: days})
	})
}

// handleReportCSV streams one row per event, live and test, accepted in
// the range. The outbox failing midway aborts the answer: the download
// fails rather than end in a file that looks whole.
func handleReportCSV(store Store, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := reportQuery(r, now)
		if err != nil {
			answerError(w, err)
			return
		}
		touched(r, fmt.Sprintf("events accepted %s to %s", q.From.Format(sidecar.DayLayout), q.To.Format(sidecar.DayLayout)))
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="glp-conversions-%s-%s.csv"`, q.From.Format(sidecar.DayLayout), q.To.Format(sidecar.DayLayout)))
		if err := sidecar.WriteReportCSV(r.Context(), w, store, q, nil); err != nil {
			panic(http.ErrAbortHandler)
		}
	})
}

// answerError answers an error by its code (web.Answer); anything
// without a code is a 500 without its cause.
func answerError(w http.ResponseWriter, err error) {
	status, body := web.Answer(err, "Internal error reading the outbox")
	writeJSON(w, status, body)
}

// shownEvent is an event as the admin API shows it: with the fields that go
// upstream under GLP_SEND_PERSONAL_DATA.
type shownEvent struct {
	sidecar.Event
	SentFields []string `json:"sent_fields"`
}

func shownEvents(events []sidecar.Event, policy sidecar.SendPolicy) []shownEvent {
	out := make([]shownEvent, len(events))
	for i, e := range events {
		out[i] = shownEvent{Event: e, SentFields: e.Conversion.SentFields(policy)}
	}
	return out
}

// listTarget is what a list of events touched, for the audit: its query
// and the ids of its first and last event.
func listTarget(r *http.Request, events []sidecar.Event) string {
	t := defaultTarget(r)
	if len(events) > 0 {
		t += fmt.Sprintf(" ids %s..%s (%d)", events[len(events)-1].ID, events[0].ID, len(events))
	}
	return t
}
