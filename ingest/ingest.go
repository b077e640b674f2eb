// Package ingest is the public conversion endpoint: it decodes and validates
// a conversion, fills in the click id, session token and end user's address
// the request carries, refuses what cannot be attributed, and answers 202
// only once the outbox has the event on disk.
package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
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
	// 403, browser calls (GLP_BROWSER_CALLS): off; without a click id;
	// with a click id not the visitor's own.
	ReasonBrowserOff     = "browser_calls_off"
	ReasonNoClickID      = "browser_call_without_click_id"
	ReasonUncorroborated = "uncorroborated_browser_call"
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
	// Browser calls (SPEC's "Server calls and browser calls").
	BrowserCalls  string               // BrowserCorroborated ("" too), BrowserOpen or BrowserOff
	Signer        *sidecar.ClickSigner // checks the click-id cookie's signed companion; nil: none
	Landings      LandingFinder        // the click log's landings of a click id; nil: none
	LandingWindow time.Duration        // how far back a landing corroborates; 0 is DefaultLandingWindow
	Reports       LandingRecorder      // keeps the landings glp.js reports (LandingHandler); nil: not kept
	Logger        *slog.Logger
	Now           func() time.Time
}

// Handler serves the conversion endpoint.
type Handler struct {
	opts      Options
	origins   map[string]bool
	limits    *limit.Table[netip.Prefix] // nil: no rate limit
	logLimits *limit.Table[string]       // log lines per refusal reason (and per dropped-ip reason)
	tokenSum  [sha256.Size]byte          // of "Bearer " + the ingest token
	notStored *notStoredLog              // 503s: once a second at most (unavailable.go)
	dataError *notStoredLog              // 400s for a value the database refused (sidecar.ErrDataRefused): once a second at most
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
	if opts.LandingWindow <= 0 {
		opts.LandingWindow = DefaultLandingWindow
	}
	switch opts.BrowserCalls {
	case "", BrowserCorroborated, BrowserOpen, BrowserOff:
	default:
		return nil, fmt.Errorf("ingest: browser calls %q: not corroborated, open or off", opts.BrowserCalls)
	}
	if opts.MatchWindow <= 0 {
		opts.MatchWindow = DefaultMatchWindow
	}
	h := &Handler{opts: opts, origins: map[string]bool{}, logLimits: limit.New[string](1.0/logEvery, logBurst, 64)}
	h.notStored = &notStoredLog{log: opts.Logger, now: opts.Now}
	h.dataError = &notStoredLog{log: opts.Logger, now: opts.Now, msg: "conversion refused by the database as invalid data"}
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
	h.answer(w, r, h.accept, true)
}

// answer serves a request of the endpoint's (a conversion, or a landing
// report: step), logs and counts a refusal, counts the answer when
// observed, and writes it.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, step func(http.ResponseWriter, *http.Request) (int, any), observed bool) {
	status, body := h.serve(w, r, step)
	if e, ok := body.(errorBody); ok && e.reason != "" {
		h.logRefusal(r, status, e)
	}
	if observed && h.opts.Observer != nil {
		h.opts.Observer.Received(r.URL.Path, outcome(status, body))
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// serve admits a POST from an origin that may call (answering a preflight
// itself) to step.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, step func(http.ResponseWriter, *http.Request) (int, any)) (int, any) {
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
	return step(w, r)
}

// accept handles one conversion and returns the answer. A server call
// (the ingest token) is taken as sent; a browser call (no Authorization
// header) can be forged by anyone, and gets less: see SPEC's "Server calls
// and browser calls". Each step refuses with an *sidecar.Error, in this
// order: who calls, the body, the event, the outbox.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request) (int, any) {
	c, err := h.admit(w, r)
	if err != nil {
		return h.errorAnswer(err)
	}
	if refused := h.browserCallsOff(c); refused != nil {
		return http.StatusForbidden, *refused
	}
	data, err := readBody(w, r)
	if err != nil {
		return h.errorAnswer(err)
	}
	ev, wait, err := h.event(r, c, data)
	if err != nil {
		return h.errorAnswer(err)
	}
	if refused := h.corroborate(r, c, ev); refused != nil {
		return http.StatusForbidden, *refused
	}
	appended, err := h.store(w, r, ev)
	if err != nil {
		return h.errorAnswer(err)
	}
	if appended.Duplicate {
		h.opts.Logger.Info("duplicate conversion", "event_id", appended.ID, "server_call", c.server)
		if !c.server {
			return repeatedBrowserKey()
		}
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
