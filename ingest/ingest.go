// Package ingest is the public conversion endpoint: it decodes and validates
// a conversion, fills in the click id, session token and end user's address
// the request carries, refuses what cannot be attributed, and answers 202
// only once the outbox has the event on disk.
package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/limit"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

// Limits and defaults.
const (
	MaxWait            = 30 * time.Second
	maxBodyBytes       = 16 << 10      // a conversion request body
	DefaultMatchWindow = 6 * time.Hour // how far back the local match looks: a visit, not the cookie's lifetime
	MaxLimiterEntries  = 65536         // client addresses (/64s) the rate limit tracks at most
	unavailableRetry   = "5"           // seconds, on 503
	browserKeyPrefix   = "browser:"    // the namespace of browser calls' idempotency keys
	logEvery           = 10            // seconds between two log lines of the same refusal, at most (after a burst of logBurst)
	logBurst           = 5
	sessionIDCookie    = "_glp_sid" // the browser SDK's session cookie
)

// Paths are the endpoint's paths: the sidecar's own and the guide's.
func Paths() []string { return []string{"/glp-s2s-conversion", "/api/glp-s2s-conversion"} }

// Store is where accepted conversions go: the outbox.
type Store interface {
	Append(ctx context.Context, e sidecar.NewEvent) (sidecar.Appended, error)
}

// Waiter tells when an event's delivery reached a final state: the relay.
type Waiter interface {
	Wait(ctx context.Context, id string) (sidecar.Event, bool)
}

// ClickMatcher finds the click id of the most recent click since a time from
// the same address and user agent: the click log.
type ClickMatcher interface {
	MatchClick(ctx context.Context, ip, userAgent string, since time.Time) (string, bool, error)
}

// Observer counts what the endpoint answered: metrics.
type Observer interface {
	Received(endpoint, outcome string)
}

// RefusalObserver counts refused requests by reason (Reason… constants):
// metrics and the dashboard.
type RefusalObserver interface {
	Refused(reason string)
}

// Why a request was refused: the bounded set of reasons that the log, the
// metric glp_refused_requests_total and the dashboard use.
const (
	ReasonInvalid      = "invalid_body"         // 400
	ReasonUnauthorized = "unauthorized"         // 401
	ReasonOrigin       = "forbidden_origin"     // 403
	ReasonTooLarge     = "too_large"            // 413
	ReasonType         = "unsupported_type"     // 415
	ReasonNothing      = "nothing_to_attribute" // 422
	ReasonRateLimited  = "rate_limited"         // 429
)

// Options configure the endpoint.
type Options struct {
	Observer       Observer        // nil: not counted
	Store          Store           // required
	Waiter         Waiter          // nil: ?wait= answers at once
	Notify         func()          // called after an event is stored (wakes the relay); may be nil
	Refusals       RefusalObserver // nil: not counted
	IngestToken    string          // the bearer token of server calls; "": every call is a browser call
	Matcher        ClickMatcher    // nil: no local match
	MatchWindow    time.Duration   // how far back the local match looks; 0 is DefaultMatchWindow
	Trusted        []netip.Prefix
	AllowedOrigins []string
	RateLimit      float64 // browser calls per public client address (an IPv6 /64), per second; 0: none
	RateBurst      int
	TestMode       bool   // every event is a test event
	CookieName     string // the click-id cookie; "" is sidecar.ClickIDCookie
	Logger         *slog.Logger
	Now            func() time.Time
}

// Handler serves the conversion endpoint.
type Handler struct {
	opts      Options
	origins   map[string]bool
	limits    *limit.Table[netip.Prefix] // nil: no rate limit
	logLimits *limit.Table[string]       // log lines per refusal reason (and per dropped-ip reason)
	tokenSum  [sha256.Size]byte          // of "Bearer " + the ingest token
	notStored *notStoredLog              // 503s: once a second at most (unavailable.go)
}

// New returns the endpoint's handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("ingest: no store")
	}
	if opts.CookieName == "" {
		opts.CookieName = sidecar.ClickIDCookie
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Notify == nil {
		opts.Notify = func() {}
	}
	if opts.MatchWindow <= 0 {
		opts.MatchWindow = DefaultMatchWindow
	}
	h := &Handler{opts: opts, origins: map[string]bool{}, logLimits: limit.New[string](1.0/logEvery, logBurst, 64)}
	h.notStored = &notStoredLog{log: opts.Logger, now: opts.Now}
	if opts.IngestToken != "" {
		h.tokenSum = sha256.Sum256([]byte("Bearer " + opts.IngestToken))
	}
	for _, o := range opts.AllowedOrigins {
		h.origins[strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))] = true
	}
	if opts.RateLimit > 0 {
		h.limits = limit.New[netip.Prefix](opts.RateLimit, max(opts.RateBurst, 1), MaxLimiterEntries)
	}
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := h.serve(w, r)
	if e, ok := body.(errorBody); ok && e.reason != "" {
		h.refused(r, status, e)
	}
	if h.opts.Observer != nil {
		h.opts.Observer.Received(r.URL.Path, outcome(status, body))
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (int, any) {
	if !h.cors(w, r) {
		return http.StatusForbidden, h.originRefusal(r)
	}
	if r.Method == http.MethodOptions {
		return http.StatusNoContent, nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		return http.StatusMethodNotAllowed, errorBody{ErrorBody: web.ErrorBody{Error: "Use POST with a JSON body"}, outcome: "method_not_allowed"}
	}
	return h.accept(w, r)
}

// outcome names an answer for the metrics: a bounded set of words.
func outcome(status int, body any) string {
	switch b := body.(type) {
	case answerBody:
		return b.Status // queued, duplicate, ok, rejected
	case errorBody:
		return b.outcome
	}
	return "preflight" // 204, the only answer without a body
}

// errorBody is an error answer: the body every listener answers errors
// with, and, for the metrics and the log, why it was given.
type errorBody struct {
	web.ErrorBody
	outcome string // the word of glp_conversions_received_total
	reason  string // a refusal's Reason…; "" for the sidecar's own failures
	fix     string // for the log: what to change
}

type answerBody struct {
	Status   string          `json:"status"`
	EventID  string          `json:"event_id"`
	Upstream json.RawMessage `json:"upstream,omitempty"`
}

// accept handles one conversion and returns the answer. A server call
// (the ingest token) is taken as sent; a browser call (no Authorization
// header) can be forged by anyone, and gets less: see SPEC's "Server calls
// and browser calls". Each step refuses with an *sidecar.Error, in this
// order: who calls, the body, the event, the outbox.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request) (int, any) {
	c, err := h.admit(w, r)
	if err != nil {
		return h.refuse(err)
	}
	data, err := readBody(w, r)
	if err != nil {
		return h.refuse(err)
	}
	ev, wait, err := h.event(r, c, data)
	if err != nil {
		return h.refuse(err)
	}
	appended, err := h.store(w, r, ev)
	if err != nil {
		return h.refuse(err)
	}
	if appended.Duplicate {
		h.opts.Logger.Info("duplicate conversion", "event_id", appended.ID)
		return http.StatusOK, answerBody{Status: "duplicate", EventID: appended.ID}
	}
	h.logQueued(r, appended.ID, ev, c.server)
	h.opts.Notify()
	return h.answerQueued(r, appended.ID, wait)
}

// call is who calls: what accept knows of a request before its body.
type call struct {
	server bool       // the ingest token: a backend
	client netip.Addr // the end user's address (a server call's is the backend's)
}

// admit tells who calls, and refuses, before the body is read, an
// Authorization header that is not the ingest token, a body that is not
// JSON and a browser call over its address's rate (with a Retry-After).
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) (call, error) {
	server, ok := h.authorize(r)
	if !ok {
		return call{}, sidecar.Errorf(sidecar.EUnauthorized, "Unauthorized: the Authorization header is not Bearer <GLP_INGEST_TOKEN>; "+
			"browsers send none, backends send the sidecar's ingest token (never GLP Winner's API token)")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return call{}, sidecar.Errorf(sidecar.EUnsupportedType, "Content-Type must be application/json")
	}
	c := call{server: server, client: web.ClientAddr(r, h.opts.Trusted)}
	if !server {
		if wait := h.limit(c.client); wait > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
			return call{}, sidecar.Errorf(sidecar.ERateLimited, "Too many conversions from this address; retry later")
		}
	}
	return c, nil
}

// readBody reads the request's body, at most maxBodyBytes of it.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err == nil {
		return data, nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, sidecar.Errorf(sidecar.ETooLarge, fmt.Sprintf("Request body too large: at most %d bytes", maxBodyBytes))
	}
	return nil, &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid request body", Fields: map[string]string{"body": "could not be read"}}
}

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
		return sidecar.NewEvent{}, 0, sidecar.Errorf(sidecar.ENothing, "Nothing to attribute: send glpClickId, session_token, email or ip, "+
			"or post from the visitor's browser so that its "+h.opts.CookieName+" cookie comes along")
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

// authorize tells a server call (the ingest token) from a browser call (no
// Authorization header); ok is false for any other Authorization header.
// The comparison takes the same time whatever the header holds.
func (h *Handler) authorize(r *http.Request) (server, ok bool) {
	auth, sent := r.Header["Authorization"]
	if !sent {
		return false, true
	}
	if h.opts.IngestToken == "" || len(auth) != 1 {
		return false, false
	}
	sum := sha256.Sum256([]byte(auth[0]))
	return true, subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

// limit returns 0 when a browser call from client may go on, else how long
// it should wait. Addresses of the provider's own network (loopback,
// private) are its servers and proxies, and are never limited.
func (h *Handler) limit(client netip.Addr) time.Duration {
	if h.limits == nil || !endUserAddr(client) {
		return 0
	}
	return h.limits.Allow(web.ClientKey(client), h.opts.Now())
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

// refuse answers an error by its code (web.Answer): its status, its
// message and, for EInvalid, the fields. Internal errors are logged and
// answered without their cause.
func (h *Handler) refuse(err error) (int, any) {
	status, body := web.Answer(err, "Internal error: the conversion was not stored; retry")
	code := sidecar.ErrorCode(err)
	switch status {
	case http.StatusInternalServerError:
		h.opts.Logger.Error("conversion not stored", "err", err)
		code = sidecar.EInternal
	case http.StatusServiceUnavailable:
		h.notStored.refused(err)
		body = web.ErrorBody{Error: "The outbox cannot store conversions now (" + body.Error + "); nothing was stored, retry later"}
	}
	e := errorBody{ErrorBody: body}
	e.outcome, e.reason, e.fix = refusalWords(code)
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
		return "nothing_to_attribute", ReasonNothing, "the caller: send glpClickId, email or ip; a browser on another origin needs credentials: \"include\" and its origin in GLP_ALLOWED_ORIGINS"
	case sidecar.ERateLimited:
		return "rate_limited", ReasonRateLimited, "GLP_RATE_LIMIT and GLP_RATE_BURST; a backend sends GLP_INGEST_TOKEN (server calls are not limited)"
	case sidecar.EForbidden:
		return "forbidden_origin", "", ""
	case sidecar.EUnavailable:
		return "unavailable", "", ""
	}
	return "internal_error", "", ""
}

// originRefusal is the 403 for an Origin that may not call: it names
// GLP_TRUSTED_PROXIES when the request came through a proxy that forwards
// the visitor's host (a Next.js rewrite, a reverse proxy) which is not
// trusted, for then the origin is the site's own and allowing it is not
// the fix; else GLP_ALLOWED_ORIGINS.
func (h *Handler) originRefusal(r *http.Request) errorBody {
	origin := r.Header.Get("Origin")
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		if fwd := forwardedHost(r); fwd != "" && strings.EqualFold(u.Host, fwd) {
			return errorBody{outcome: "forbidden_origin", reason: ReasonOrigin, fix: "GLP_TRUSTED_PROXIES",
				ErrorBody: web.ErrorBody{Error: "Origin " + origin + " came through a proxy that is not in GLP_TRUSTED_PROXIES (its X-Forwarded-Host is not believed): " +
					"add the proxy's address to GLP_TRUSTED_PROXIES"}}
		}
	}
	return errorBody{outcome: "forbidden_origin", reason: ReasonOrigin, fix: "GLP_ALLOWED_ORIGINS",
		ErrorBody: web.ErrorBody{Error: "Origin " + origin + " may not call this endpoint; add it to GLP_ALLOWED_ORIGINS"}}
}

func forwardedHost(r *http.Request) string {
	return strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Host"), ",")[0])
}

// refused logs a refused request, one line per reason every few seconds at
// most, with what to change and nothing personal (no address, email or
// click id), and counts it.
func (h *Handler) refused(r *http.Request, status int, e errorBody) {
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

// cors admits requests from the same origin, from GLP_ALLOWED_ORIGINS (with
// the CORS headers), and without an Origin (servers).
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	w.Header().Add("Vary", "Origin")
	if h.origins[strings.ToLower(origin)] {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions {
			hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			hd.Set("Access-Control-Allow-Headers", "Content-Type, Idempotency-Key, X-GLP-Test-Mode")
			hd.Set("Access-Control-Max-Age", "600")
		}
		return true
	}
	return h.sameOrigin(r, origin)
}

func (h *Handler) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := r.Host
	if fwd := forwardedHost(r); fwd != "" && web.Trusted(web.PeerAddr(r), h.opts.Trusted) {
		host = fwd
	}
	return strings.EqualFold(u.Host, host)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
