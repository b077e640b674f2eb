package admin

import (
	"net/http"

	"github.com/gorilla/mux"
)

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", handleReadyz(s.opts.Checks)).Methods(http.MethodGet, http.MethodHead)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not Found"})
	})
	return r
}
