package admin

import (
	_ "embed"
	"net/http"
	"net/http/pprof"

	"github.com/gorilla/mux"
)

//go:embed dashboard.html
var dashboardHTML []byte

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.Use(s.opts.Metrics.Instrument("admin"))
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", handleReadyz(s.opts.Checks, s.opts.Relay)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", s.opts.Metrics.Handler()).Methods(http.MethodGet)
	r.Handle("/admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently)).Methods(http.MethodGet)

	guarded := r.NewRoute().Subrouter()
	auth := requireToken(s.opts.Token, s.opts.Trusted, s.opts.Now)
	if s.opts.Auth == AuthProxy {
		auth = requireProxyUser(s.opts.Trusted)
	}
	guarded.Use(requireHost(s.opts.Hosts), requireSameOrigin(), auth)
	guarded.Handle("/admin/", handleDashboard()).Methods(http.MethodGet)
	guarded.Handle("/admin/api/stats", handleStats(s.opts.Store, s.opts.Relay, s.opts.Now, s.opts.Metrics.RefusedCounts)).Methods(http.MethodGet)
	guarded.Handle("/admin/api/events", s.audit(ActionEventsList)(handleEvents(s.opts.Store, s.opts.SendPersonal))).Methods(http.MethodGet)
	guarded.Handle("/admin/api/events/retry", s.audit(ActionEventsRetry)(handleRetryState(s.opts.Store, s.opts.Relay))).Methods(http.MethodPost)
	guarded.Handle("/admin/api/events/{id}", s.audit(ActionEventRead)(handleEvent(s.opts.Store, s.opts.SendPersonal))).Methods(http.MethodGet)
	guarded.Handle("/admin/api/events/{id}/retry", s.audit(ActionEventRetry)(handleRetryOne(s.opts.Store, s.opts.Relay))).Methods(http.MethodPost)
	guarded.Handle("/admin/api/clicks", s.audit(ActionClicksList)(handleClicks(s.opts.Store))).Methods(http.MethodGet)
	guarded.Handle("/admin/api/report", handleReport(s.opts.Store, s.opts.Now)).Methods(http.MethodGet)
	guarded.Handle("/admin/api/report/conversions.csv", s.audit(ActionReportCSV)(handleReportCSV(s.opts.Store, s.opts.Now))).Methods(http.MethodGet)
	if s.opts.Audit != nil {
		guarded.Handle("/admin/api/audit", handleAudit(s.opts.Audit, s.opts.Now)).Methods(http.MethodGet)
	}
	if s.opts.Pprof {
		guarded.Handle("/debug/pprof/profile", http.HandlerFunc(pprof.Profile))
		guarded.Handle("/debug/pprof/trace", http.HandlerFunc(pprof.Trace))
		guarded.PathPrefix("/debug/pprof/").HandlerFunc(pprof.Index)
	}

	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not Found"})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "Method Not Allowed"})
	})
	return r
}

func handleDashboard() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; img-src 'self' data:")
		h.Set("X-Frame-Options", "DENY")
		w.Write(dashboardHTML)
	})
}
