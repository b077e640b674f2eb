package mockglp

import (
	_ "embed"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
)

//go:embed page.html
var pageHTML []byte

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.Handle("/api/track/v1/conversion", s.handleConversion()).Methods(http.MethodPost)
	r.Handle("/api/track/v1/session", s.handleSession()).Methods(http.MethodPost, http.MethodOptions)
	r.Handle("/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/_mock/clicks", s.handleClicks()).Methods(http.MethodGet)
	r.Handle("/_mock/conversions", s.handleConversions()).Methods(http.MethodGet)
	r.Handle("/_mock/reset", sameOriginWrites(s.handleReset())).Methods(http.MethodPost)
	r.Handle("/_mock/faults", sameOriginWrites(s.handleFaults())).Methods(http.MethodGet, http.MethodPost)
	r.Handle("/_mock/", handlePage()).Methods(http.MethodGet)
	r.Handle("/", http.RedirectHandler("/_mock/", http.StatusFound)).Methods(http.MethodGet)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		encode(w, http.StatusNotFound, errorBody{Error: "Not Found"})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		encode(w, http.StatusMethodNotAllowed, errorBody{Error: "Method Not Allowed"})
	})
	return r
}

func handlePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(pageHTML)
	})
}

// sameOriginWrites refuses a write (any method but GET and HEAD) that a
// page of another origin sent: a text/plain POST needs no preflight, so
// any site a developer visits could otherwise reset the mock or inject
// faults into it. Browsers name the page's origin in Origin (and
// Sec-Fetch-Site); scripts and the mock's own page pass.
func sameOriginWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			site := r.Header.Get("Sec-Fetch-Site")
			origin := r.Header.Get("Origin")
			u, err := url.Parse(origin)
			if (site != "" && site != "same-origin" && site != "none") || (origin != "" && (err != nil || !strings.EqualFold(u.Host, r.Host))) {
				encode(w, http.StatusForbidden, errorBody{Error: "Forbidden: the mock takes writes from its own page and from scripts, not from another origin"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
