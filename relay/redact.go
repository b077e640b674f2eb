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
	if len(a.body) > 0 && token != "" {
		a.body = []byte(sidecar.Redact(string(a.body), token))
	}
	if len(a.body) > maxAnswerBytes {
		a.body = a.body[:maxAnswerBytes]
	}
	if token == "" {
		return a
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

// redactSlack is how much more than maxAnswerBytes is read, so that the
// token, in its longest echoed form Redact looks through (every byte a
// JSON \uXXXX escape, itself percent-encoded twice: %25255Cu0074, 14
// bytes), is read whole even when it straddles the cut.
func redactSlack(token string) int64 {
	return int64(14*len(token) + len("Bearer "))
}
