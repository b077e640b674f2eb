package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

type answerBody struct {
	Status   string          `json:"status"`
	EventID  string          `json:"event_id"`
	Upstream json.RawMessage `json:"upstream,omitempty"`
	metric   string          // the metrics' word when not Status's
}

// answerQueued answers for a queued event: at once, or, when the caller
// asked to wait and a waiter tells, with how its delivery ended if it
// ended within the wait.
func (h *Handler) answerQueued(r *http.Request, id string, wait time.Duration) (int, any) {
	if wait > 0 && h.opts.Waiter != nil {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		if e, ok := h.opts.Waiter.Wait(ctx, id); ok {
			return waited(e)
		}
	}
	return http.StatusAccepted, answerBody{Status: "queued", EventID: id}
}

// waited is the answer for an event whose delivery ended while the caller
// waited.
func waited(e sidecar.Event) (int, any) {
	up := json.RawMessage(e.LastBody)
	if !json.Valid(up) {
		up, _ = json.Marshal(e.LastBody)
	}
	switch e.State {
	case sidecar.StateDelivered:
		return http.StatusCreated, answerBody{Status: "ok", EventID: e.ID, Upstream: up}
	case sidecar.StateDuplicate:
		return http.StatusOK, answerBody{Status: "duplicate", EventID: e.ID, Upstream: up}
	case sidecar.StateRejected:
		return http.StatusUnprocessableEntity, answerBody{Status: "rejected", EventID: e.ID, Upstream: up}
	}
	return http.StatusAccepted, answerBody{Status: string(e.State), EventID: e.ID, Upstream: up}
}

// errorBody is an error answer: the body every listener answers errors
// with, and, for the metrics and the log, why it was given.
type errorBody struct {
	web.ErrorBody
	Stored  string `json:"stored,omitempty"` // "unknown": a 503 whose write may have been stored (sidecar.ErrStoredUnknown)
	outcome string // the word of glp_conversions_received_total
	reason  string // a refusal's Reason…; "" for the sidecar's own failures
	fix     string // for the log: what to change
}

// outcome names an answer for the metrics: a bounded set of words.
func outcome(status int, body any) string {
	switch b := body.(type) {
	case answerBody:
		if b.metric != "" {
			return b.metric // duplicate, for a browser call answered as queued
		}
		return b.Status // queued, duplicate, ok, rejected
	case errorBody:
		return b.outcome
	}
	return "preflight" // 204, the only answer without a body
}

// errorAnswer answers an error by its code (web.Answer): its status, its
// message and, for EInvalid, the fields. Internal errors are logged and
// answered without their cause.
func (h *Handler) errorAnswer(err error) (int, any) {
	status, body := web.Answer(err, "Internal error: the conversion was not stored; retry")
	code := sidecar.ErrorCode(err)
	switch status {
	case http.StatusInternalServerError:
		h.opts.Logger.Error("conversion not stored", "err", err)
		code = sidecar.EInternal
	case http.StatusServiceUnavailable:
		h.notStored.refused(err)
		if errors.Is(err, sidecar.ErrStoredUnknown) { // the commit's answer was lost and could not be learnt in time
			e := errorBody{ErrorBody: web.ErrorBody{Error: "The outbox could not confirm whether the conversion was stored (the database connection broke after the write was sent); " +
				"retry with the same Idempotency-Key: if it was stored, the retry is answered as a duplicate"}, Stored: "unknown"}
			e.outcome, e.reason, e.fix = refusalWords(code)
			return status, e
		}
		body = web.ErrorBody{Error: "The outbox cannot store conversions now (" + body.Error + "); nothing was stored, retry later"}
	}
	e := errorBody{ErrorBody: body}
	e.outcome, e.reason, e.fix = refusalWords(code)
	if errors.Is(err, sidecar.ErrDataRefused) { // the database's refusal, not the caller's field rules: logged here, once a second at most
		h.dataError.refused(err)
		e.reason = ""
	}
	if code == sidecar.ENothing {
		e.fix = h.nothingHint()
	}
	return status, e
}

// refusalWords names an error code's answer for the metrics (outcome) and,
// for a caller's mistake, the refusal's reason and what to change.
func refusalWords(code string) (outcome, reason, fix string) {
	switch code {
	case sidecar.EInvalid:
		return "invalid", ReasonInvalid, "the caller's request: the answer's details name each bad field"
	case sidecar.EUnauthorized:
		return "unauthorized", ReasonUnauthorized, "GLP_INGEST_TOKEN: backends send Authorization: Bearer <GLP_INGEST_TOKEN>; browsers send no Authorization header"
	case sidecar.ETooLarge:
		return "too_large", ReasonTooLarge, fmt.Sprintf("the caller's body: at most %d bytes", maxBodyBytes)
	case sidecar.EUnsupportedType:
		return "unsupported_type", ReasonType, "the caller's Content-Type: application/json"
	case sidecar.ENothing:
		return "nothing_to_attribute", ReasonNothing, "" // the fix is nothingHint's, which knows the cookie's name
	case sidecar.ERateLimited:
		return "rate_limited", ReasonRateLimited, "GLP_RATE_LIMIT and GLP_RATE_BURST; a backend sends GLP_INGEST_TOKEN (server calls are not limited)"
	case sidecar.EForbidden:
		return "forbidden_origin", "", ""
	case sidecar.EUnavailable:
		return "unavailable", "", ""
	}
	return "internal_error", "", ""
}

// logRefusal logs a refused request, one line per reason every few seconds at
// most, with what to change and nothing personal (no address, email or
// click id), and counts it.
func (h *Handler) logRefusal(r *http.Request, status int, e errorBody) {
	if h.opts.Refusals != nil {
		h.opts.Refusals.Refused(e.reason)
	}
	if h.logLimits.Allow(e.reason, h.opts.Now()) > 0 {
		return
	}
	fields := make([]string, 0, len(e.Details))
	for f := range e.Details {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	h.opts.Logger.Warn("conversion refused", "status", status, "reason", e.reason, "fix", e.fix, "path", r.URL.Path, "fields", fields,
		"origin", r.Header.Get("Origin"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
