package ingest

import (
	"context"
	"log/slog"
	"net/http"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// store appends the event to the outbox, with a Retry-After for the caller
// when the outbox cannot take a write now.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, ev sidecar.NewEvent) (sidecar.Appended, error) {
	appended, err := h.opts.Store.Append(context.WithoutCancel(r.Context()), ev)
	if sidecar.ErrorCode(err) == sidecar.EUnavailable {
		w.Header().Set("Retry-After", unavailableRetry)
	}
	return appended, err
}

// logQueued logs a queued event, its email and address masked.
func (h *Handler) logQueued(r *http.Request, id string, ev sidecar.NewEvent, server bool) {
	if !h.opts.Logger.Enabled(r.Context(), slog.LevelInfo) { // masking costs a burst's CPU even when not logged
		return
	}
	h.opts.Logger.Info("event queued", "event_id", id, "state", sidecar.StateQueued, "test", ev.Test, "server_call", server,
		"click_id", ev.Conversion.ClickID, "click_source", ev.ClickSource, "email", sidecar.MaskEmail(ev.Conversion.Email), "ip", maskIP(ev.Conversion.IP))
}
