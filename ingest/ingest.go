// Package ingest is the public conversion endpoint: it decodes and validates
// a conversion, fills in the click id, session token and end user's address
// the request carries, refuses what cannot be attributed, and answers 202
// only once the outbox has the event on disk.
package ingest

import (
	"context"
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
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Limits and defaults.
const (
	MaxWait           = 30 * time.Second
	unavailableRetry  = "5" // seconds, on 503
	limiterIdle       = 5 * time.Minute
	limiterSweepEvery = time.Minute
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

// Options configure the endpoint.
type Options struct {
	Observer       Observer      // nil: not counted
	Store          Store         // required
	Waiter         Waiter        // nil: ?wait= answers at once
	Notify         func()        // called after an event is stored (wakes the relay); may be nil
	Matcher        ClickMatcher  // nil: no local match
	MatchWindow    time.Duration // how far back the local match looks: the cookie's lifetime
	Trusted        []netip.Prefix
	AllowedOrigins []string
	RateLimit      float64 // per public client address, per second; 0: none
	RateBurst      int
	TestMode       bool   // every event is a test event
	CookieName     string // the click-id cookie; "" is sidecar.ClickIDCookie
	Logger         *slog.Logger
	Now            func() time.Time
}

// Handler serves the conversion endpoint.
type Handler struct {
	opts    Options
	origins map[string]bool
	limits  *limiter
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
	h := &Handler{opts: opts, origins: map[string]bool{}}
	for _, o := range opts.AllowedOrigins {
		h.origins[strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))] = true
	}
	if opts.RateLimit > 0 {
		h.limits = &limiter{every: rate.Limit(opts.RateLimit), burst: opts.RateBurst, now: opts.Now, m: map[netip.Addr]*limitEntry{}}
	}
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := h.serve(w, r)
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
		return http.StatusForbidden, errorBody{Error: "Origin " + r.Header.Get("Origin") + " may not call this endpoint; add it to GLP_ALLOWED_ORIGINS"}
	}
	if r.Method == http.MethodOptions {
		return http.StatusNoContent, nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		return http.StatusMethodNotAllowed, errorBody{Error: "Use POST with a JSON body"}
	}
	return h.accept(w, r)
}

// outcome names an answer for the metrics: a bounded set of words.
func outcome(status int, body any) string {
	if a, ok := body.(answerBody); ok {
		return a.Status // queued, duplicate, ok, rejected
	}
	switch status {
	case http.StatusNoContent:
		return "preflight"
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusForbidden:
		return "forbidden_origin"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_type"
	case http.StatusUnprocessableEntity:
		return "nothing_to_attribute"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "internal_error"
}

type errorBody struct {
	Error   string            `json:"error"`
	Details map[string]string `json:"details,omitempty"`
}

type answerBody struct {
	Status   string          `json:"status"`
	EventID  string          `json:"event_id"`
	Upstream json.RawMessage `json:"upstream,omitempty"`
}

// accept handles one conversion and returns the answer.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request) (int, any) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return h.refuse(sidecar.Errorf(sidecar.EUnsupportedType, "Content-Type must be application/json"))
	}
	client := sidecar.ClientAddr(r, h.opts.Trusted)
	if wait := h.limits.allow(client); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		return h.refuse(sidecar.Errorf(sidecar.ERateLimited, "Too many conversions from this address; retry later"))
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, sidecar.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return h.refuse(sidecar.Errorf(sidecar.ETooLarge, fmt.Sprintf("Request body too large: at most %d bytes", sidecar.MaxBodyBytes)))
		}
		return h.refuse(&sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid request body", Fields: map[string]string{"body": "could not be read"}})
	}
	req, err := sidecar.DecodeConversion(data)
	if err != nil {
		return h.refuse(err)
	}
	wait, key, err := requestOptions(r)
	if err != nil {
		return h.refuse(err)
	}
	ev := h.complete(r, req, client)
	ev.Key = key
	if key == "" {
		ev.Key = ev.Conversion.ConversionID
	}
	if !ev.Conversion.Attributable() {
		return h.refuse(sidecar.Errorf(sidecar.ENothing, "Nothing to attribute: send glpClickId, session_token, email or ip, "+
			"or post from the visitor's browser so that its "+h.opts.CookieName+" cookie comes along"))
	}
	appended, err := h.opts.Store.Append(context.WithoutCancel(r.Context()), ev)
	if err != nil {
		if sidecar.ErrorCode(err) == sidecar.EUnavailable {
			w.Header().Set("Retry-After", unavailableRetry)
		}
		return h.refuse(err)
	}
	if appended.Duplicate {
		h.opts.Logger.Info("duplicate conversion", "event_id", appended.ID)
		return http.StatusOK, answerBody{Status: "duplicate", EventID: appended.ID}
	}
	if h.opts.Logger.Enabled(r.Context(), slog.LevelInfo) { // masking costs a burst's CPU even when not logged
		h.opts.Logger.Info("event queued", "event_id", appended.ID, "state", sidecar.StateQueued, "test", ev.Test,
			"click_id", ev.Conversion.ClickID, "click_source", ev.ClickSource, "email", sidecar.MaskEmail(ev.Conversion.Email), "ip", sidecar.MaskIP(ev.Conversion.IP))
	}
	h.opts.Notify()
	if wait > 0 && h.opts.Waiter != nil {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		if e, ok := h.opts.Waiter.Wait(ctx, appended.ID); ok {
			return waited(e)
		}
	}
	return http.StatusAccepted, answerBody{Status: "queued", EventID: appended.ID}
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
	if key != "" && !sidecar.ValidClickID(key) {
		bad["Idempotency-Key"] = fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces", sidecar.MaxTokenLen)
	}
	if len(bad) > 0 {
		return 0, "", &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid request body", Fields: bad}
	}
	return wait, key, nil
}

// complete fills what the body left out from what the request carries: the
// click-id cookie, the browser SDK's session cookie, the end user's address
// and, failing a click id, a click from the same address and user agent.
func (h *Handler) complete(r *http.Request, req sidecar.ConversionRequest, client netip.Addr) sidecar.NewEvent {
	ev := sidecar.NewEvent{Conversion: req.Conversion, Test: req.TestMode || h.opts.TestMode || strings.EqualFold(r.Header.Get("X-GLP-Test-Mode"), "true") ||
		strings.EqualFold(r.URL.Query().Get("testMode"), "true")} // ?testMode=true, the guide's spelling
	c := &ev.Conversion
	switch {
	case c.ClickID != "":
		ev.ClickSource = sidecar.ClickFromBody
	case cookie(r, h.opts.CookieName, sidecar.ValidClickID) != "":
		c.ClickID, ev.ClickSource = cookie(r, h.opts.CookieName, sidecar.ValidClickID), sidecar.ClickFromCookie
	}
	if c.SessionToken == "" {
		c.SessionToken = cookie(r, sidecar.SessionIDCookie, func(s string) bool { return len(s) > 0 && len(s) <= sidecar.MaxTokenLen })
	}
	if c.IP == "" && sidecar.EndUserAddr(client) {
		c.IP = client.String()
	}
	if c.ClickID == "" && h.opts.Matcher != nil && sidecar.EndUserAddr(client) {
		id, ok, err := h.opts.Matcher.MatchClick(r.Context(), client.String(), r.UserAgent(), h.opts.Now().Add(-h.opts.MatchWindow))
		if err != nil {
			h.opts.Logger.Warn("local click match failed", "err", err)
		}
		if ok {
			c.ClickID, ev.ClickSource = id, sidecar.ClickFromLocalMatch
		}
	}
	return ev
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

// refuse answers an error: its status, its message and, for EInvalid, the
// fields. Internal errors are logged and answered without their cause.
func (h *Handler) refuse(err error) (int, any) {
	status := sidecar.HTTPStatus(err)
	var e *sidecar.Error
	if !errors.As(err, &e) || status == http.StatusInternalServerError {
		h.opts.Logger.Error("conversion not stored", "err", err)
		return http.StatusInternalServerError, errorBody{Error: "Internal error: the conversion was not stored; retry"}
	}
	if status == http.StatusServiceUnavailable {
		h.opts.Logger.Error("conversion not stored", "err", err)
		return status, errorBody{Error: "The outbox cannot store conversions now (" + e.Message + "); nothing was stored, retry later"}
	}
	return status, errorBody{Error: e.Message, Details: e.Fields}
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
	if fwd := r.Header.Get("X-Forwarded-Host"); fwd != "" && sidecar.Trusted(sidecar.PeerAddr(r), h.opts.Trusted) {
		host = strings.TrimSpace(strings.Split(fwd, ",")[0])
	}
	return strings.EqualFold(u.Host, host)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// limiter is a token bucket per public client address. Addresses of the
// provider's own network (loopback, private) are its servers and proxies,
// and are never limited.
type limiter struct {
	every rate.Limit
	burst int
	now   func() time.Time
	mu    sync.Mutex
	m     map[netip.Addr]*limitEntry
	swept time.Time
}

type limitEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

// allow returns 0 when a may go on, else how long it should wait.
func (l *limiter) allow(a netip.Addr) time.Duration {
	if l == nil || !sidecar.EndUserAddr(a) {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > limiterSweepEvery {
		for k, e := range l.m {
			if now.Sub(e.seen) > limiterIdle {
				delete(l.m, k)
			}
		}
		l.swept = now
	}
	e := l.m[a]
	if e == nil {
		e = &limitEntry{lim: rate.NewLimiter(l.every, l.burst)}
		l.m[a] = e
	}
	e.seen = now
	res := e.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}
