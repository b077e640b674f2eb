package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// LandingPath is where glp.js reports a landing on a page of another origin.
const LandingPath = "/glp-landing"

// maxLandingBody bounds a landing report's body.
const maxLandingBody = 1 << 10

// LandingRecorder keeps a reported landing: the click log.
type LandingRecorder interface {
	RecordClick(ctx context.Context, c sidecar.Click) error
}

// LandingHandler serves POST /glp-landing: glp.js, on a page of another
// origin (GLP_ALLOWED_ORIGINS, as for conversions), reports that the
// visitor landed on a click id, so that the visitor's browser calls from
// that address are corroborated. The landing is logged with the caller's
// own address, never one the body names: a report corroborates only the
// reporter's own calls, which a landing on the URL would do as well. It is
// not a top-level landing (the local match never uses it), and the click
// log's per-address limits hold.
func (h *Handler) LandingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.answer(w, r, h.landing, false) // not a conversion: not counted as one
	})
}

// landing handles one landing report and returns the answer.
func (h *Handler) landing(w http.ResponseWriter, r *http.Request) (int, any) {
	if _, ok := r.Header["Authorization"]; ok {
		return h.errorAnswer(sidecar.Errorf(sidecar.EUnauthorized, "A landing report is a browser's: send no Authorization header"))
	}
	c, err := h.admit(w, r) // JSON only, and the address's rate
	if err != nil {
		return h.errorAnswer(err)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLandingBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return h.errorAnswer(sidecar.Errorf(sidecar.ETooLarge, "A landing report is at most 1 KiB"))
	}
	req, err := decodeConversion(data)
	if err == nil && req.ClickID == "" {
		err = invalid(map[string]string{"glpClickId": "is required: the click id the page landed on"})
	}
	if err != nil {
		return h.errorAnswer(err)
	}
	if h.opts.Reports != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
		defer cancel()
		click := sidecar.Click{ClickID: req.ClickID, At: h.opts.Now(), IP: c.client.String(),
			UserAgent: sidecar.Clip(r.UserAgent(), 512), Referrer: sidecar.Clip(r.Header.Get("Origin"), 1024)}
		if err := h.opts.Reports.RecordClick(ctx, click); err != nil {
			h.opts.Logger.Warn("landing report not logged", "err", err)
		}
	}
	return http.StatusAccepted, map[string]string{"status": "recorded"}
}
