package sidecar

import (
	"fmt"
	"strings"
)

// SendPolicy says when a conversion's email and IP go upstream
// (GLP_SEND_PERSONAL_DATA).
type SendPolicy string

// The send policies.
const (
	// SendWhenNeeded sends email and IP only with an event that has neither
	// click id nor session token: GLP Winner attributes by the click id (or
	// the session its SDK opened), and only a soft match needs them.
	SendWhenNeeded SendPolicy = "when-needed"
	// SendAlways sends them with every event, as the guide's examples do.
	SendAlways SendPolicy = "always"
)

// ParseSendPolicy reads GLP_SEND_PERSONAL_DATA ("" is SendWhenNeeded).
func ParseSendPolicy(s string) (SendPolicy, error) {
	switch p := SendPolicy(strings.TrimSpace(s)); p {
	case "":
		return SendWhenNeeded, nil
	case SendWhenNeeded, SendAlways:
		return p, nil
	}
	return "", fmt.Errorf("must be %s or %s", SendWhenNeeded, SendAlways)
}

// Upstream is the conversion as it goes to GLP Winner under policy p: without
// email and IP when p is SendWhenNeeded and the click id or the session
// token attributes it.
func (c Conversion) Upstream(p SendPolicy) Conversion {
	if p != SendAlways && (c.ClickID != "" || c.SessionToken != "") {
		c.Email, c.IP = "", ""
	}
	return c
}

// SentFields names the fields of the conversion that go upstream under
// policy p, in the upstream's spelling (providerId aside): what the admin
// API and the dashboard show of each event.
func (c Conversion) SentFields(p SendPolicy) []string {
	u := c.Upstream(p)
	var out []string
	for _, f := range []struct{ name, v string }{
		{"transaction_id", u.ClickID}, {"session_token", u.SessionToken}, {"email", u.Email}, {"ip", u.IP}, {"conversion_id", u.ConversionID},
	} {
		if f.v != "" {
			out = append(out, f.name)
		}
	}
	return out
}
