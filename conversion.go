package sidecar

import "strings"

// The click id's longest length and its cookie.
const (
	MaxClickIDLen = 256
	ClickIDCookie = "_glp_cid"
)

// Conversion is what is relayed to GLP Winner, less the providerId that the
// relay adds. The JSON names are the upstream's.
type Conversion struct {
	ClickID      string `json:"transaction_id,omitempty"`
	SessionToken string `json:"session_token,omitempty"`
	Email        string `json:"email,omitempty"`
	IP           string `json:"ip,omitempty"`
	ConversionID string `json:"conversion_id,omitempty"`
}

// Attributable reports whether the upstream has anything to attribute the
// conversion to.
func (c Conversion) Attributable() bool {
	return c.ClickID != "" || c.SessionToken != "" || c.Email != "" || c.IP != ""
}

// ClickIDForbidden are the printable characters a click id may not hold
// besides space: those that break a cookie value (" , ; \) and those that
// are live in HTML or a script (' < > & `), so that the cookie the sidecar
// writes is inert wherever a provider's page renders it.
const ClickIDForbidden = "\"',;\\<>&`"

// ValidClickID reports whether s is a click id the sidecar keeps: 1 to 256
// printable ASCII characters, no spaces, none of ClickIDForbidden.
func ValidClickID(s string) bool {
	return PrintableToken(s, MaxClickIDLen) && !strings.ContainsAny(s, ClickIDForbidden)
}

// PrintableToken reports whether s is 1 to max printable ASCII characters
// without spaces (an Idempotency-Key).
func PrintableToken(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// MaskEmail keeps an address recognisable to its owner and nobody else, for
// logs: "p•••@example.com".
func MaskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 1 {
		return ""
	}
	return s[:1] + "•••" + s[at:]
}
