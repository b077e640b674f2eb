// Package admin is the admin listener: health and readiness for
// orchestrators, and (with a bearer token when not on loopback) the operator's
// API and dashboard.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

const checkTimeout = 3 * time.Second

// Check is one readiness condition: nil when ready, else the reason.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Options configure the admin server.
type Options struct {
	Checks  []Check
	Token   string // bearer token for /admin/; "" leaves it open (loopback only)
	Store   Store
	Relay   Relay
	Metrics *Metrics
	Pprof   bool // serve /debug/pprof/ (behind the token)
	Logger  *slog.Logger
	Now     func() time.Time
}

// Server is the admin listener's handler.
type Server struct {
	opts    Options
	handler http.Handler
}

// New returns the admin server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Relay == nil || opts.Metrics == nil {
		return nil, errors.New("admin: store, relay and metrics are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz runs every check; the first failure is the reason.
func handleReadyz(checks []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		for _, c := range checks {
			if err := c.Fn(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "check": c.Name, "reason": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

const tokenCookie = "glp_admin"

// requireToken guards the admin API and dashboard with the bearer token,
// compared in constant time. A browser may bring it once as ?token= on the
// dashboard, which trades it for an HttpOnly, SameSite=Strict cookie.
func requireToken(token string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		want := []byte(token)
		ok := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), want) == 1 }
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if q := r.URL.Query().Get("token"); q != "" && ok(q) {
				http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/admin/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
				u := *r.URL
				u.RawQuery = ""
				http.Redirect(w, r, u.String(), http.StatusSeeOther) // drop the token from the address bar
				return
			}
			got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if c, err := r.Cookie(tokenCookie); !found && err == nil {
				got = c.Value
			}
			if !ok(got) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="glp-sidecar admin"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized: send Authorization: Bearer <GLP_ADMIN_TOKEN>, or open /admin/?token=<GLP_ADMIN_TOKEN> once"})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
