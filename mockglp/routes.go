package mockglp

import (
	_ "embed"
	"net/http"

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
	r.Handle("/_mock/reset", s.handleReset()).Methods(http.MethodPost)
	r.Handle("/_mock/faults", s.handleFaults()).Methods(http.MethodGet, http.MethodPost)
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
