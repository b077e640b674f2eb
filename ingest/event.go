package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

// event decodes the body into the event to store, and returns how long a
// server call asked to wait for its delivery (?wait=). A server call's ip is
// kept when it is an end user's; a browser call's address is the request's
// own. The event is completed from what the request carries and keyed, and
// refused when it has nothing to attribute the conversion to.
func (h *Handler) event(r *http.Request, c call, data []byte) (sidecar.NewEvent, time.Duration, error) {
	req, err := decodeConversion(data)
	if err != nil {
		return sidecar.NewEvent{}, 0, err
	}
	var wait time.Duration
	var key string
	if c.server {
		if wait, key, err = requestOptions(r); err != nil {
			return sidecar.NewEvent{}, 0, err
		}
		req.IP = h.publicIP(req.IP)
	} else {
		req.IP = "" // a browser call's address is the request's own
	}
	ev := h.complete(r, req, c.client, c.server)
	ev.Key = eventKey(ev, key, c)
	if !ev.Conversion.Attributable() {
		return sidecar.NewEvent{}, 0, sidecar.Errorf(sidecar.ENothing, "Nothing to attribute: "+h.nothingHint())
	}
	return ev, wait, nil
}

// eventKey is an event's idempotency key: the Idempotency-Key header, else
// a server call's conversion id, else a browser call's browserKey; "" when
// there is neither header nor conversion id.
func eventKey(ev sidecar.NewEvent, header string, c call) string {
	switch {
	case header != "":
		return header
	case ev.Conversion.ConversionID == "":
		return ""
	case c.server:
		return ev.Conversion.ConversionID
	}
	return browserKey(ev, c.client)
}

// browserKey is a browser call's idempotency key: its conversion id, in a
// namespace apart from server calls', and scoped to what the call
// attributes the conversion to (click id, session token, email), to the
// client's address (an IPv6 client's /64) and to test or live, so that a
// stranger who posts a conversion id first makes nobody's conversion a
// duplicate but their own, and learns nothing of anyone else's: not even,
// from another address, whether a person with a known email converted.
// The same browser posting the same conversion twice is still one event.
func browserKey(e sidecar.NewEvent, client netip.Addr) string {
	c := e.Conversion
	sum := sha256.Sum256([]byte(c.ClickID + "\x00" + c.SessionToken + "\x00" + c.Email + "\x00" +
		web.ClientKey(client).String() + "\x00" + strconv.FormatBool(e.Test)))
	return browserKeyPrefix + hex.EncodeToString(sum[:8]) + ":" + c.ConversionID
}

// requestOptions reads ?wait= and the Idempotency-Key header.
func requestOptions(r *http.Request) (time.Duration, string, error) {
	bad := map[string]string{}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxWait {
			bad["wait"] = fmt.Sprintf("must be a duration of at most %s, such as 5s", MaxWait)
		}
		wait = d
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" && !sidecar.PrintableToken(key, maxTokenLen) {
		bad["Idempotency-Key"] = fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces", maxTokenLen)
	}
	if len(bad) > 0 {
		return 0, "", &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid request body", Fields: bad}
	}
	return wait, key, nil
}

// complete fills what the body left out from what the request carries: the
// click id (clickID), the browser SDK's session cookie and the end user's
// address.
func (h *Handler) complete(r *http.Request, req conversionRequest, client netip.Addr, server bool) sidecar.NewEvent {
	ev := sidecar.NewEvent{Conversion: req.Conversion, Test: req.TestMode || h.opts.TestMode || strings.EqualFold(r.Header.Get("X-GLP-Test-Mode"), "true") ||
		strings.EqualFold(r.URL.Query().Get("testMode"), "true")} // ?testMode=true, the guide's spelling
	c := &ev.Conversion
	if c.ClickID != "" {
		ev.ClickSource = sidecar.ClickFromBody
	} else {
		c.ClickID, ev.ClickSource = h.clickID(r, client, server)
	}
	if c.SessionToken == "" {
		c.SessionToken = cookie(r, sessionIDCookie, func(s string) bool { return len(s) > 0 && len(s) <= maxTokenLen })
	}
	if c.IP == "" && endUserAddr(client) {
		c.IP = client.String()
	}
	return ev
}

// clickID is the click id of a request whose body has none, and where it
// came from: the click-id cookie or, failing that, for a browser call, a
// recent top-level landing from the same address and user agent (a server
// call's address is the backend's: nothing to match it with).
func (h *Handler) clickID(r *http.Request, client netip.Addr, server bool) (id, source string) {
	if id := cookie(r, h.opts.CookieName, sidecar.ValidClickID); id != "" {
		return id, sidecar.ClickFromCookie
	}
	if h.opts.Matcher == nil || server || !endUserAddr(client) {
		return "", ""
	}
	id, ok, err := h.opts.Matcher.MatchClick(r.Context(), client.String(), r.UserAgent(), h.opts.Now().Add(-h.opts.MatchWindow))
	if err != nil {
		h.opts.Logger.Warn("local click match failed", "err", err)
	}
	if !ok {
		return "", ""
	}
	return id, sidecar.ClickFromLocalMatch
}

func cookie(r *http.Request, name string, valid func(string) bool) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	if !valid(c.Value) {
		return ""
	}
	return c.Value
}

// publicIP is a server call's ip, or "" when it is no end user's address
// (loopback, private, link-local: the backend passed its own or its proxy's
// by mistake), with a warning, once per reason every few seconds at most.
func (h *Handler) publicIP(ip string) string {
	if ip == "" {
		return ""
	}
	a, _ := netip.ParseAddr(ip) // validated by decodeConversion
	if endUserAddr(a) {
		return ip
	}
	kind := "private"
	switch {
	case a.IsLoopback():
		kind = "loopback"
	case a.IsUnspecified():
		kind = "unspecified"
	case a.IsLinkLocalUnicast():
		kind = "link-local"
	case a.IsMulticast():
		kind = "multicast"
	}
	if h.logLimits.Allow("ip:"+kind, h.opts.Now()) == 0 {
		h.opts.Logger.Warn("a server call's ip is not an end user's address: not sent to GLP Winner", "kind", kind,
			"fix", "send the visitor's public address (X-Forwarded-For as your load balancer sets it), or leave ip out")
	}
	return ""
}

// nothingHint says what a call with nothing to attribute should send: the
// 422's message and the log line's fix.
func (h *Handler) nothingHint() string {
	return "send glpClickId, session_token, email or ip, or post from the visitor's browser so that its " + h.opts.CookieName +
		" cookie comes along (from another origin: credentials: \"include\" and the page's origin in GLP_ALLOWED_ORIGINS)"
}
