package capture

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"text/template"
	"time"
)

//go:embed glp.js
var glpJS string

var glpTemplate = template.Must(template.New("glp.js").Funcs(template.FuncMap{
	"js": func(v any) (string, error) { // a JSON value is a JavaScript literal
		b, err := json.Marshal(v)
		return string(b), err
	},
}).Parse(glpJS))

// Script serves glp.js with the sidecar's cookie settings; convert() posts
// to endpoint, and a landing on a page of another origin is reported to
// landing (paths on the sidecar, resolved against the script's URL; ""
// reports none).
func Script(opts Options, endpoint, landing string) (http.Handler, error) {
	opts.defaults()
	var buf bytes.Buffer
	err := glpTemplate.Execute(&buf, map[string]any{
		"CookieName": opts.CookieName, "Param": opts.Param, "Domain": opts.Domain,
		"MaxAge": int(opts.MaxAge / time.Second), "Endpoint": endpoint, "Landing": landing,
	})
	if err != nil {
		return nil, fmt.Errorf("glp.js: %w", err)
	}
	body := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(body)
	}), nil
}
