// Package demo is the small provider app that sidecar demo puts behind the
// sidecar: a landing page that logs the affiliate's click at the mock GLP
// Winner's session service (as GLP Winner's browser SDK does), a sign-up
// form whose script posts the conversion to the sidecar's path on its own
// origin (as GLP Winner's guide shows), and a page that says what the
// sidecar answered. It imports only the standard library.
package demo

import (
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Parse(pageHTML))

// Options are the links the pages show and the session service they call.
type Options struct {
	DashboardURL string // the sidecar's dashboard
	MockURL      string // the mock GLP Winner's page
	SessionURL   string // the mock's POST /api/track/v1/session
	ProviderID   int64  // the provider the landing logs its click for
}

// Handler serves the demo app.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	for path, name := range map[string]string{"/{$}": "landing", "/signup": "signup", "/welcome": "welcome"} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			page.Execute(w, map[string]any{"Page": name, "Dashboard": opts.DashboardURL, "Mock": opts.MockURL,
				"Session": opts.SessionURL, "Provider": opts.ProviderID})
		})
	}
	return mux
}
