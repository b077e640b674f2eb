// Package admin is the admin listener: health and readiness for
// orchestrators, and (with a bearer token when not on loopback) the operator's
// API and dashboard.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
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
	Token   string         // bearer token for /admin/; "" leaves it open (loopback only)
	Hosts   []string       // names the admin API answers under, besides IP addresses and localhost
	Trusted []netip.Prefix // proxies whose X-Forwarded-Proto is believed (the session cookie's Secure)
	Store   Store
	Relay   Relay
	Metrics *Metrics
	Pprof   bool // serve /debug/pprof/ (behind the token)
	Logger  *slog.Logger
	Now     func() time.Time

	// Patient data: who may look, and the record of each look.
	Audit        sidecar.AuditStore // the audit log; nil: not audited
	Auth         string             // AuthToken ("" too) or AuthProxy
	SendPersonal sidecar.SendPolicy // shown as each event's sent_fields
}

// Server is the admin listener's handler.
type Server struct {
	opts    Options
	handler http.Handler

	auditMu     sync.Mutex
	auditRecent map[string]time.Time // identical reads recorded lately (auditRepeat)
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
	s := &Server{opts: opts, auditRecent: map[string]time.Time{}}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// readyBody is /readyz's answer. The relay's state is reported, never a
// reason to fail: the sidecar stands in front of the site, and delivery
// trouble must not take the site out of its load balancer.
type readyBody struct {
	Status string              `json:"status"`
	Check  string              `json:"check,omitempty"`
	Reason string              `json:"reason,omitempty"`
	Relay  sidecar.RelayStatus `json:"relay"`
}

// handleReadyz runs every check; the first failure is the reason.
func handleReadyz(checks []Check, relay StatusSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		defer cancel()
		b := readyBody{Status: "ready", Relay: relay.Status()}
		for _, c := range checks {
			if err := c.Fn(ctx); err != nil {
				b.Status, b.Check, b.Reason = "not ready", c.Name, err.Error()
				writeJSON(w, http.StatusServiceUnavailable, b)
				return
			}
		}
		writeJSON(w, http.StatusOK, b)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
