package main

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/glpwinner/glp-sidecar/ingest"
)

// publicRoutes is the public listener: the sidecar's own paths first, then
// everything else to the app (through click capture).
func publicRoutes(conversions, landings, script, app http.Handler, instrument mux.MiddlewareFunc) http.Handler {
	r := mux.NewRouter()
	r.Use(instrument)
	r.SkipClean(true) // the app's paths reach it as they came
	r.UseEncodedPath()
	conversions = readDeadline(bodyReadTimeout)(conversions)
	for _, p := range ingest.Paths() {
		r.Handle(p, conversions)
	}
	r.Handle(ingest.LandingPath, readDeadline(bodyReadTimeout)(landings)) // glp.js's landing reports
	r.Handle("/glp.js", script).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/").Handler(app)
	return r
}

// readDeadline cuts off a request whose body has not arrived within d of
// its headers: a body sent a byte at a time would hold its connection (and
// a file descriptor) for as long as the sender likes.
func readDeadline(d time.Duration) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
			next.ServeHTTP(w, r)
		})
	}
}

// handleNoApp answers what would go to the app when there is none.
func handleNoApp() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "Not Found: conversions go to POST /glp-s2s-conversion; set GLP_APP_URL to put the sidecar in front of your app"})
	})
}
