package sidecar

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Redacted replaces a secret wherever it is found in what the sidecar keeps
// or shows.
const Redacted = "[redacted]"

// Redact returns s with secret replaced by Redacted wherever it occurs, in
// the forms an upstream may echo it in: as sent (so also "Bearer <secret>"),
// escaped inside a JSON string (with or without "\/"), and URL-escaped.
func Redact(s, secret string) string {
	if secret == "" || s == "" {
		return s
	}
	for _, form := range secretForms(secret) {
		s = strings.ReplaceAll(s, form, Redacted)
	}
	return s
}

func secretForms(secret string) []string {
	forms := []string{secret}
	if b, err := json.Marshal(secret); err == nil {
		j := string(b[1 : len(b)-1])
		forms = append(forms, j, strings.ReplaceAll(j, "/", `\/`))
	}
	forms = append(forms, url.QueryEscape(secret), url.PathEscape(secret))
	out := forms[:0]
	seen := map[string]bool{}
	for _, f := range forms {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}
