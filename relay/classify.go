package relay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// verdict is what an upstream answer means for the event and the relay.
type verdict int

const (
	delivered verdict = iota // 201: recorded upstream
	duplicate                // 200 duplicate: the click already converted
	rejected                 // 400, 422 and other 4xx: refused for good; kept, retryable by hand
	retry                    // transport errors, timeouts, 408, 429, 5xx: try again later
	pause                    // 401, 403, redirects, 404, 405: the configuration is wrong; stop and probe
)

// reply is the verdict as the rules of an event's life read it.
func (v verdict) reply() sidecar.Reply {
	return [...]sidecar.Reply{sidecar.ReplyCreated, sidecar.ReplyDuplicate, sidecar.ReplyRefused, sidecar.ReplyFailed, sidecar.ReplyPaused}[v]
}

func (v verdict) String() string {
	return [...]string{"delivered", "duplicate", "rejected", "retry", "paused"}[v]
}

// answer is one upstream call's result.
type answer struct {
	status     int
	body       []byte
	header     http.Header
	err        error // no answer: transport error or timeout
	landed     bool  // no answer, and the request was written: it may have landed
	retryAfter time.Duration
}

// classify reads an answer: the verdict and, for the operator, what it means.
func classify(a answer) (verdict, string) {
	if a.err != nil {
		return retry, "no answer: " + a.err.Error()
	}
	s := a.status
	switch {
	case s >= 200 && s < 300:
		return accepted(a)
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return pause, fmt.Sprintf("the upstream refused the credentials (%d %s): check GLP_API_TOKEN and GLP_PROVIDER_ID", s, upstreamError(a.body))
	case s >= 300 && s < 400:
		return pause, fmt.Sprintf("the upstream redirected (%d to %q); redirects are not followed so that the token never travels: check GLP_API_URL", s, a.header.Get("Location"))
	case s == http.StatusNotFound || s == http.StatusMethodNotAllowed:
		return pause, fmt.Sprintf("the upstream has no conversion endpoint there (%d): check GLP_API_URL", s)
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return retry, fmt.Sprintf("upstream %d %s", s, upstreamError(a.body))
	default: // 400, 422 and the rest of 4xx
		return rejected, fmt.Sprintf("refused by the upstream (%d %s)", s, upstreamError(a.body))
	}
}

// accepted reads a 2xx: delivered, or a 200 saying the click already
// converted.
func accepted(a answer) (verdict, string) {
	if a.status != http.StatusOK {
		return delivered, ""
	}
	var b struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(a.body, &b) == nil && b.Status == "duplicate" {
		return duplicate, "already tracked for this click"
	}
	return delivered, ""
}

// upstreamError is the upstream's "error" field, or the status text.
func upstreamError(body []byte) string {
	var b struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil && b.Error != "" {
		return b.Error
	}
	return ""
}

// upstreamResult reads the 201 (or 200) body's ids.
func upstreamResult(body []byte) sidecar.Upstream {
	var u sidecar.Upstream
	_ = json.Unmarshal(body, &u)
	return u
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
