package main

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/glpwinner/glp-sidecar/ingest"
)

// publicRoutes is the public listener: the sidecar's own paths first, then
// everything else.
func publicRoutes(conversions http.Handler) http.Handler {
	r := mux.NewRouter()
	r.SkipClean(true)
	r.UseEncodedPath()
	for _, p := range ingest.Paths() {
		r.Handle(p, conversions)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "Not Found: conversions go to POST /glp-s2s-conversion"})
	})
	return r
}
