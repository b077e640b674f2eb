// Package capture keeps the affiliate's click id from the landing URL to the
// sign-up: a first-party cookie set by the server, a click log, a reverse
// proxy that puts the sidecar in front of the provider's app, and glp.js for
// pages that are not behind the proxy.
//
// Go apps that do not want the proxy can wrap their own handler:
//
//	mw := capture.Middleware(capture.Options{})
//	http.ListenAndServe(":8080", mw(appHandler))
//
// Every GET or HEAD request whose URL carries a valid glp_click_id then gets
// the _glp_cid cookie; the app's frontend posts conversions to the sidecar,
// or the backend reads the cookie and posts them itself.
package capture

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

// Defaults.
const (
	DefaultParam  = "glp_click_id"
	DefaultMaxAge = 720 * time.Hour
	recordTimeout = 2 * time.Second
	maxUserAgent  = 512
	maxPath       = 1024
	maxUTM        = 256
)

// Recorder keeps clicks: the outbox's click log.
type Recorder interface {
	RecordClick(ctx context.Context, c sidecar.Click) error
}

// Options configure click capture.
type Options struct {
	CookieName string         // "" is sidecar.ClickIDCookie
	MaxAge     time.Duration  // 0 is DefaultMaxAge
	Domain     string         // "" sets a host-only cookie
	Param      string         // "" is DefaultParam
	Trusted    []netip.Prefix // proxies whose X-Forwarded-For/-Proto are believed
	Recorder   Recorder       // nil: set the cookie only
	// Signer, when set, signs a companion cookie (CookieName + "_sig",
	// HttpOnly) that tells the conversion endpoint the click id is one the
	// sidecar set for this browser: a corroborated browser call.
	Signer *sidecar.ClickSigner
	Logger *slog.Logger
	Now    func() time.Time
}

func (o *Options) defaults() {
	if o.CookieName == "" {
		o.CookieName = sidecar.ClickIDCookie
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Param == "" {
		o.Param = DefaultParam
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Middleware captures click ids on GET and HEAD requests that are landings
// (see Landing): it sets the cookie (last click wins), marks the response
// private and uncacheable so that no cache hands one visitor's click id to
// another, records the click, and passes the request on unchanged. An
// invalid click id is ignored.
func Middleware(opts Options) func(http.Handler) http.Handler {
	opts.defaults()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				if topLevel, landing := Landing(r); landing {
					q := r.URL.Query()
					if id := q.Get(opts.Param); sidecar.ValidClickID(id) {
						secure := web.HTTPS(r, opts.Trusted)
						http.SetCookie(w, cookie(opts, id, secure))
						if opts.Signer != nil {
							http.SetCookie(w, sigCookie(opts, id, secure))
						}
						w = &noStore{ResponseWriter: w}
						record(r, q, opts, id, topLevel)
					}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Landing reports whether a request may be a visitor landing on a page:
// not when the browser says it is anything else (Sec-Fetch-Mode other than
// navigate, Sec-Fetch-Dest other than document: an image, a script, a
// frame, a fetch), for then another site embedded the URL to plant a click.
// A request without those headers (a browser from before 2020, a page over
// plain HTTP, curl) may be one; topLevel is true only when the browser
// said it is one.
func Landing(r *http.Request) (topLevel, ok bool) {
	mode, dest := r.Header.Get("Sec-Fetch-Mode"), r.Header.Get("Sec-Fetch-Dest")
	if (mode != "" && mode != "navigate") || (dest != "" && dest != "document") {
		return false, false
	}
	return mode == "navigate" && dest == "document", true
}

// ClickID returns the request's click id when it is present and valid.
func ClickID(r *http.Request, param string) (string, bool) {
	id := r.URL.Query().Get(param)
	return id, sidecar.ValidClickID(id)
}

func cookie(opts Options, id string, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     opts.CookieName,
		Value:    id,
		Path:     "/",
		Domain:   opts.Domain,
		MaxAge:   int(opts.MaxAge / time.Second),
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
		// Not HttpOnly: the guide's frontend reads the cookie.
	}
}

// sigCookie is the click-id cookie's companion: the sidecar's signature of
// the click id, until the cookie expires. HttpOnly: no page needs it, and
// no script of the page can copy it elsewhere.
func sigCookie(opts Options, id string, secure bool) *http.Cookie {
	c := cookie(opts, opts.Signer.Sign(id, opts.Now().Add(opts.MaxAge)), secure)
	c.Name, c.HttpOnly = opts.CookieName+sidecar.ClickSigCookieSuffix, true
	return c
}

// utmParams are the query parameters the click log keeps beside the click id.
var utmParams = [...]string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"}

func record(r *http.Request, q url.Values, opts Options, id string, topLevel bool) {
	if opts.Recorder == nil {
		return
	}
	c := sidecar.Click{
		ClickID:   id,
		At:        opts.Now(),
		IP:        web.ClientAddr(r, opts.Trusted).String(),
		UserAgent: sidecar.Clip(r.UserAgent(), maxUserAgent),
		Path:      sidecar.Clip(r.URL.Path, maxPath),
		Referrer:  sidecar.Clip(referrerPage(r.Referer()), maxPath),
		TopLevel:  topLevel,
	}
	for _, p := range utmParams {
		if v := q.Get(p); v != "" {
			if c.UTM == nil {
				c.UTM = map[string]string{}
			}
			c.UTM[p] = sidecar.Clip(v, maxUTM)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), recordTimeout)
	defer cancel()
	if err := opts.Recorder.RecordClick(ctx, c); err != nil {
		// The cookie is set all the same; only the local log misses it.
		opts.Logger.Warn("click not logged", "err", err)
	}
}

// noStore makes the response private and uncacheable, whatever the app
// says, when its headers are written.
type noStore struct {
	http.ResponseWriter
	wrote bool
}

func (n *noStore) WriteHeader(code int) {
	if !n.wrote {
		n.wrote = true
		h := n.Header()
		h.Set("Cache-Control", "private, no-store")
		// What CDNs believe before Cache-Control (Cloudflare, Akamai,
		// Fastly), and HTTP/1.0 caches.
		h.Set("CDN-Cache-Control", "no-store")
		h.Set("Surrogate-Control", "no-store")
		h.Set("Expires", "0")
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *noStore) Write(b []byte) (int, error) {
	if !n.wrote {
		n.WriteHeader(http.StatusOK)
	}
	return n.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (and so the proxy's flushing and
// WebSocket hijack) reach the server's writer.
func (n *noStore) Unwrap() http.ResponseWriter { return n.ResponseWriter }
