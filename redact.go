package sidecar

import (
	"encoding/json"
	"net/url"
	"strings"
)

// redacted replaces a secret wherever it is found in what the sidecar keeps
// or shows.
const redacted = "[redacted]"

// Redact returns s with secret replaced by "[redacted]" wherever it occurs, in
// the forms an upstream may echo it in: as sent (so also "Bearer <secret>"),
// escaped inside a JSON string (any escapes: a JSON body is decoded, each of
// its strings redacted, and encoded again when one held the secret), and
// URL-escaped (in either case of hex digits).
func Redact(s, secret string) string {
	if secret == "" || s == "" {
		return s
	}
	for _, form := range secretForms(secret) {
		s = strings.ReplaceAll(s, form, redacted)
	}
	// Escapes can hide the secret from the replacements above only where
	// there are escapes: most answers have none, and are not decoded.
	if strings.ContainsRune(s, '\\') {
		if r, ok := redactJSON(s, secret); ok {
			s = r
		}
	}
	if !strings.ContainsRune(s, '%') {
		return s
	}
	for _, unescape := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
		if u, err := unescape(s); err == nil && u != s && strings.Contains(u, secret) {
			return Redact(u, secret)
		}
	}
	return s
}

// redactJSON redacts every string of s when s is one JSON value, and says
// whether it changed any.
func redactJSON(s, secret string) (string, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil || d.More() {
		return s, false
	}
	changed := false
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			if r := Redact(t, secret); r != t {
				changed = true
				return r
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			for k, x := range t {
				delete(t, k)
				t[walk(k).(string)] = walk(x)
			}
		}
		return v
	}
	v = walk(v)
	if !changed {
		return s, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return s, false
	}
	return string(b), true
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
