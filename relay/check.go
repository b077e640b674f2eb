package relay

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// CheckOptions are the credentials and the upstream that Check tries.
type CheckOptions struct {
	BaseURL        string // ConversionPath is appended
	ProviderID     int64
	Token          string
	RequestTimeout time.Duration
}

// Checked is what the upstream made of Check's conversion.
type Checked struct {
	// Accepted: a 201, or a 200 (already tracked): the credentials and the
	// URL are right.
	Accepted bool
	// Refused: a 401 or 403, the upstream refused the credentials.
	Refused bool
	// Status is the HTTP status (0: no answer); Error the upstream's
	// "error" field, if any; Reason what the relay would log of it (never
	// the token).
	Status        int
	Error, Reason string
	ClickID       string
	Upstream      sidecar.Upstream
}

// Check sends one test-mode conversion (?testMode=true, a click id of its
// own making, no personal data) with the credentials, exactly as the relay
// sends an event, and reads the answer as the relay would: for the first
// minutes of an installation, before a patient converts.
func Check(o CheckOptions) Checked {
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	click := "glp-sidecar-check-" + hex.EncodeToString(id)
	r := &Relay{
		opts:   Options{BaseURL: o.BaseURL, ProviderID: o.ProviderID, Token: o.Token, RequestTimeout: o.RequestTimeout},
		url:    strings.TrimRight(o.BaseURL, "/") + ConversionPath,
		client: newClient(1, o.RequestTimeout),
		clock:  wallClock{},
	}
	// No store leased this event: its lease is the request's time, which
	// post's deadline (the lease's end, less a margin) then keeps whole.
	e := sidecar.Event{Test: true, Conversion: sidecar.Conversion{ClickID: click, ConversionID: click}, LeaseUntil: r.clock.Now().Add(o.RequestTimeout)}
	a := r.post(e).redacted(o.Token)
	v, reason := classify(a)
	c := Checked{
		Status:  a.status,
		Error:   sidecar.Redact(upstreamError(a.body), o.Token),
		Reason:  sidecar.Redact(reason, o.Token),
		ClickID: click,
	}
	switch {
	case v == delivered || v == duplicate:
		c.Accepted, c.Upstream = true, upstreamResult(a.body)
	case a.status == 401 || a.status == 403:
		c.Refused = true
	}
	return c
}
