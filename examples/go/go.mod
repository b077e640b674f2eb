module example.com/provider-app

go 1.26.8

require github.com/glpwinner/glp-sidecar v0.0.0

require (
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	golang.org/x/time v0.16.0 // indirect
)

// glp-sidecar is not published as a module: point the import at your copy of its source (a git
// submodule, a vendored directory or a checkout beside your app).
replace github.com/glpwinner/glp-sidecar => ../..
