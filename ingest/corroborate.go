package ingest

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/google/uuid"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

// Which browser calls are queued (GLP_BROWSER_CALLS).
const (
	BrowserCorroborated = "corroborated" // only with the visitor's own click id (the default; "" too)
	BrowserOpen         = "open"         // every valid one
	BrowserOff          = "off"          // none: 403
)

// DefaultLandingWindow is how far back a landing corroborates a browser
// call when Options.LandingWindow is 0: the click-id cookie's lifetime.
const DefaultLandingWindow = 720 * time.Hour

// LandingFinder tells from which addresses a click id landed: the click log.
type LandingFinder interface {
	ClickLandedFrom(ctx context.Context, clickID string, since time.Time) ([]string, error)
}

// refusal is the 403 of a browser call the sidecar does not queue, naming
// server calls.
func refusal(reason, why string) *errorBody {
	return &errorBody{outcome: "forbidden_browser_call", reason: reason,
		fix: "the provider's backend: post this conversion as a server call (Authorization: Bearer <GLP_INGEST_TOKEN>); see GLP_BROWSER_CALLS",
		ErrorBody: web.ErrorBody{Error: "Browser call refused: " + why + ". Post this conversion from your backend as a server call " +
			"(Authorization: Bearer <GLP_INGEST_TOKEN>)"}}
}

// browserCallsOff refuses every browser call under GLP_BROWSER_CALLS=off.
func (h *Handler) browserCallsOff(c call) *errorBody {
	if c.server || h.opts.BrowserCalls != BrowserOff {
		return nil
	}
	return refusal(ReasonBrowserOff, "this sidecar takes conversions from servers only (GLP_BROWSER_CALLS=off)")
}

// corroborate refuses, under GLP_BROWSER_CALLS=corroborated, a browser
// call whose click id is not the visitor's own: one the sidecar set for
// this browser (the signed companion cookie, sent with the call), found by
// the local match from this address's own landing, or landed on from this
// address (an IPv6 client's /64) within the cookie's lifetime, glp.js's
// reports from other origins included. A call without a click id would be
// soft-matched by its email or address, which anyone can type: that is for
// server calls.
func (h *Handler) corroborate(r *http.Request, c call, ev sidecar.NewEvent) *errorBody {
	if c.server || (h.opts.BrowserCalls != BrowserCorroborated && h.opts.BrowserCalls != "") {
		return nil
	}
	id := ev.Conversion.ClickID
	switch {
	case id == "":
		return refusal(ReasonNoClickID, "it carries no click id, and matching a conversion by its email or address is for server calls")
	case ev.ClickSource == sidecar.ClickFromLocalMatch, h.signedFor(r, id), h.landedFrom(r.Context(), id, c.client):
		return nil
	}
	return refusal(ReasonUncorroborated, "its click id is not this visitor's own (no cookie this sidecar set for it, no landing on it from this address)")
}

// signedFor reports whether the request carries the sidecar's companion
// cookie for clickID.
func (h *Handler) signedFor(r *http.Request, clickID string) bool {
	if h.opts.Signer == nil {
		return false
	}
	ck, err := r.Cookie(h.opts.CookieName + sidecar.ClickSigCookieSuffix)
	return err == nil && h.opts.Signer.Verify(ck.Value, clickID, h.opts.Now())
}

// landedFrom reports whether the click log holds a landing on clickID from
// client's address (an IPv6 client's /64) within the landing window.
func (h *Handler) landedFrom(ctx context.Context, clickID string, client netip.Addr) bool {
	if h.opts.Landings == nil || !client.IsValid() {
		return false
	}
	ips, err := h.opts.Landings.ClickLandedFrom(ctx, clickID, h.opts.Now().Add(-h.opts.LandingWindow))
	if err != nil {
		h.opts.Logger.Warn("corroborating a browser call: the click log cannot be read", "err", err)
		return false
	}
	want := web.ClientKey(client)
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil && web.ClientKey(a) == want {
			return true
		}
	}
	return false
}

// repeatedBrowserKey answers a browser call whose key was taken: as if it
// were new, with an event id of its own, so that no stranger learns from it
// of anyone's conversion; nothing more was stored.
func repeatedBrowserKey() (int, any) {
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	return http.StatusAccepted, answerBody{Status: "queued", EventID: id.String(), metric: "duplicate"}
}
