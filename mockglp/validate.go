package mockglp

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"regexp"
	"strings"
)

// conversionRequest is a valid body of POST /api/track/v1/conversion.
type conversionRequest struct {
	ProviderID    int64
	TransactionID string
	SessionToken  string
	Email         string
	IP            string
	ConversionID  string
}

// zodErrors builds the shape of Zod's error.format(): a root "_errors" list
// and, per field, an object with its own "_errors" list.
type zodErrors struct {
	root   []string
	fields map[string][]string
}

func (z *zodErrors) add(field, msg string) {
	if field == "" {
		z.root = append(z.root, msg)
		return
	}
	if z.fields == nil {
		z.fields = map[string][]string{}
	}
	z.fields[field] = append(z.fields[field], msg)
}

func (z *zodErrors) empty() bool { return len(z.root) == 0 && len(z.fields) == 0 }

func (z *zodErrors) MarshalJSON() ([]byte, error) {
	out := map[string]any{"_errors": nonNil(z.root)}
	for f, msgs := range z.fields {
		out[f] = map[string][]string{"_errors": msgs}
	}
	return json.Marshal(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// zodType names a JSON value's type as Zod's "received" does.
func zodType(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return "undefined"
	case raw[0] == '"':
		return "string"
	case raw[0] == '{':
		return "object"
	case raw[0] == '[':
		return "array"
	case raw[0] == 't' || raw[0] == 'f':
		return "boolean"
	case raw[0] == 'n':
		return "null"
	default:
		return "number"
	}
}

// The messages are Zod 3's, so that a provider's code that parses them
// against the real service reads the mock's the same way.
const (
	msgRequired     = "Required"
	msgMinOne       = "String must contain at least 1 character(s)"
	msgEmail        = "Invalid email"
	msgIP           = "Invalid ip"
	msgInteger      = "Expected integer, received float"
	msgPositive     = "Number must be greater than 0"
	msgNeedOneOf    = "At least one of transaction_id, session_token, email or ip is required"
	msgInvalidJSON  = "Invalid JSON"
	msgNeedClickID  = "glp_click_id is required"
	msgUnknownProvi = "Unknown provider"
)

// validateConversion checks a conversion body against the upstream's schema:
// providerId a positive integer; transaction_id, session_token and
// conversion_id non-empty strings; email an email; ip an IP address; and at
// least one of transaction_id, session_token, email, ip.
func validateConversion(body []byte) (conversionRequest, *zodErrors) {
	var req conversionRequest
	z := &zodErrors{}
	obj, ok := decodeObject(body, z)
	if !ok {
		return req, z
	}
	req.ProviderID = providerID(obj, z)
	req.TransactionID = optionalString(obj, "transaction_id", z, nonEmpty)
	req.SessionToken = optionalString(obj, "session_token", z, nonEmpty)
	req.Email = optionalString(obj, "email", z, isEmail)
	req.IP = optionalString(obj, "ip", z, isIP)
	req.ConversionID = optionalString(obj, "conversion_id", z, nonEmpty)
	if z.empty() && req.TransactionID == "" && req.SessionToken == "" && req.Email == "" && req.IP == "" {
		z.add("", msgNeedOneOf)
	}
	return req, z
}

// sessionRequest is a valid body of POST /api/track/v1/session, the call
// that GLP Winner's browser SDK makes on landing.
type sessionRequest struct {
	ProviderID int64
	ClickID    string
	Email      string
	UTM        map[string]string
}

func validateSession(body []byte) (sessionRequest, *zodErrors) {
	var req sessionRequest
	z := &zodErrors{}
	obj, ok := decodeObject(body, z)
	if !ok {
		return req, z
	}
	req.ProviderID = providerID(obj, z)
	req.ClickID = optionalString(obj, "glp_click_id", z, nonEmpty)
	if _, present := obj["glp_click_id"]; !present {
		z.add("glp_click_id", msgRequired)
	}
	req.Email = optionalString(obj, "email", z, isEmail)
	for k := range obj {
		if strings.HasPrefix(k, "utm_") {
			if v := optionalString(obj, k, z, nonEmpty); v != "" {
				if req.UTM == nil {
					req.UTM = map[string]string{}
				}
				req.UTM[k] = v
			}
		}
	}
	return req, z
}

func decodeObject(body []byte, z *zodErrors) (map[string]json.RawMessage, bool) {
	if !json.Valid(body) {
		z.add("", msgInvalidJSON)
		return nil, false
	}
	var obj map[string]json.RawMessage
	if zodType(body) != "object" || json.Unmarshal(body, &obj) != nil {
		z.add("", "Expected object, received "+zodType(body))
		return nil, false
	}
	return obj, true
}

func providerID(obj map[string]json.RawMessage, z *zodErrors) int64 {
	raw, ok := obj["providerId"]
	if !ok {
		z.add("providerId", msgRequired)
		return 0
	}
	if t := zodType(raw); t != "number" {
		z.add("providerId", "Expected number, received "+t)
		return 0
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		z.add("providerId", "Expected number, received number")
		return 0
	}
	if f != math.Trunc(f) {
		z.add("providerId", msgInteger)
	}
	if f <= 0 {
		z.add("providerId", msgPositive)
	}
	if f != math.Trunc(f) || f <= 0 || f > 1<<53 {
		return 0
	}
	return int64(f)
}

// optionalString reads an optional string field; rule returns the message of
// what is wrong with a present value, or "".
func optionalString(obj map[string]json.RawMessage, name string, z *zodErrors, rule func(string) string) string {
	raw, ok := obj[name]
	if !ok {
		return ""
	}
	if t := zodType(raw); t != "string" {
		z.add(name, "Expected string, received "+t)
		return ""
	}
	var s string
	_ = json.Unmarshal(raw, &s) // a JSON string always decodes
	if msg := rule(s); msg != "" {
		z.add(name, msg)
		return ""
	}
	return s
}

func nonEmpty(s string) string {
	if s == "" {
		return msgMinOne
	}
	return ""
}

// emailPattern is Zod 3's email regex; its two look-aheads (no leading dot,
// no ".." anywhere) are checked in isEmail.
var emailPattern = regexp.MustCompile(`^[A-Za-z0-9_'+\-.]*[A-Za-z0-9_+\-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`)

func isEmail(s string) string {
	if strings.HasPrefix(s, ".") || strings.Contains(s, "..") || !emailPattern.MatchString(s) {
		return msgEmail
	}
	return ""
}

func isIP(s string) string {
	if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
		return msgIP
	}
	return ""
}
