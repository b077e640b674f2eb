// Package demo is the small provider app that sidecar demo puts behind the
// sidecar: a landing page, a sign-up form whose script posts the conversion
// to the sidecar's path on its own origin (as GLP Winner's guide shows), and
// a welcome page. It imports only the standard library.
package demo

import (
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Parse(pageHTML))

// Options are the links the pages show.
type Options struct {
	DashboardURL string // the sidecar's dashboard
	MockURL      string // the mock GLP Winner's page
}

// Handler serves the demo app.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	for path, name := range map[string]string{"/{$}": "landing", "/signup": "signup", "/welcome": "welcome"} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			page.Execute(w, map[string]string{"Page": name, "Dashboard": opts.DashboardURL, "Mock": opts.MockURL})
		})
	}
	return mux
}
