package relay

import (
	"errors"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// redacted is the answer with the API token taken out of everything the
// upstream wrote (body, error text, Location), before anything of it is
// classified, stored, logged or handed to a waiter: an upstream that echoes
// the Authorization header must not make the sidecar show the token.
func (a answer) redacted(token string) answer {
	if token == "" {
		return a
	}
	if len(a.body) > 0 {
		a.body = []byte(sidecar.Redact(string(a.body), token))
	}
	if a.err != nil {
		if msg := sidecar.Redact(a.err.Error(), token); msg != a.err.Error() {
			a.err = errors.New(msg)
		}
	}
	if loc := a.header.Get("Location"); loc != "" {
		a.header = a.header.Clone()
		a.header.Set("Location", sidecar.Redact(loc, token))
	}
	return a
}
