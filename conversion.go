package sidecar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Limits of the conversion contract.
const (
	MaxBodyBytes    = 16 << 10 // a conversion request body
	MaxClickIDLen   = 256
	MaxTokenLen     = 256 // session token and conversion id
	MaxEmailLen     = 254
	ClickIDCookie   = "_glp_cid"
	SessionIDCookie = "_glp_sid"
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

// ConversionRequest is a decoded request to the conversion endpoint.
type ConversionRequest struct {
	Conversion
	TestMode bool
}

// stringField is one accepted string field: its spellings, its rule and where
// the value goes.
type stringField struct {
	names []string
	check func(string) (string, string) // value → normalised value, or "" and what is wrong
	dst   func(*ConversionRequest) *string
}

var conversionFields = []stringField{
	{[]string{"glpClickId", "transaction_id", "glp_click_id"}, checkClickID, func(r *ConversionRequest) *string { return &r.ClickID }},
	{[]string{"session_token", "sessionToken"}, checkToken, func(r *ConversionRequest) *string { return &r.SessionToken }},
	{[]string{"email"}, checkEmail, func(r *ConversionRequest) *string { return &r.Email }},
	{[]string{"ip"}, checkIP, func(r *ConversionRequest) *string { return &r.IP }},
	{[]string{"conversion_id", "conversionId"}, checkToken, func(r *ConversionRequest) *string { return &r.ConversionID }},
}

// DecodeConversion decodes and validates a conversion request body. Absent
// and null fields are left empty; unknown fields are ignored. A failure is an
// *Error with code EInvalid naming each bad field, as the caller spelt it.
func DecodeConversion(data []byte) (ConversionRequest, error) {
	var req ConversionRequest
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return req, invalid(map[string]string{"body": bodyProblem(data, err)})
	}
	if obj == nil { // the body was null
		return req, invalid(map[string]string{"body": "must be a JSON object"})
	}
	bad := map[string]string{}
	for _, f := range conversionFields {
		name, raw := firstPresent(obj, f.names)
		if raw == nil {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			bad[name] = "must be a string, not " + jsonKind(raw)
			continue
		}
		v, problem := f.check(s)
		if problem != "" {
			bad[name] = problem
			continue
		}
		*f.dst(&req) = v
	}
	if _, raw := firstPresent(obj, []string{"testMode"}); raw != nil {
		if err := json.Unmarshal(raw, &req.TestMode); err != nil {
			bad["testMode"] = "must be a boolean, not " + jsonKind(raw)
		}
	}
	if len(bad) > 0 {
		return ConversionRequest{}, invalid(bad)
	}
	return req, nil
}

func invalid(fields map[string]string) *Error {
	return &Error{Code: EInvalid, Message: "Invalid request body", Fields: fields}
}

// firstPresent returns the first of names that obj holds with a value other
// than null.
func firstPresent(obj map[string]json.RawMessage, names []string) (string, json.RawMessage) {
	for _, n := range names {
		if raw, ok := obj[n]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return n, raw
		}
	}
	return "", nil
}

func bodyProblem(data []byte, err error) string {
	if len(bytes.TrimSpace(data)) == 0 {
		return "is empty; send a JSON object"
	}
	if typeErr := (*json.UnmarshalTypeError)(nil); errors.As(err, &typeErr) {
		return "must be a JSON object, not " + typeErr.Value
	}
	return "is not valid JSON"
}

// jsonKind names the JSON type of a raw value for an error message.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// ValidClickID reports whether s is a click id the sidecar keeps: 1 to 256
// printable ASCII characters, no spaces.
func ValidClickID(s string) bool {
	if len(s) == 0 || len(s) > MaxClickIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func checkClickID(s string) (string, string) {
	if !ValidClickID(s) {
		return "", fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces", MaxClickIDLen)
	}
	return s, ""
}

func checkToken(s string) (string, string) {
	if len(s) == 0 || len(s) > MaxTokenLen {
		return "", fmt.Sprintf("must be 1 to %d bytes long", MaxTokenLen)
	}
	return s, ""
}

// emailPattern is the address rule of the upstream's validator (Zod's email
// regex, less its look-aheads, which ValidEmail checks by hand), so that an
// address the sidecar accepts is never refused upstream.
var emailPattern = regexp.MustCompile(`^[A-Za-z0-9_'+\-.]*[A-Za-z0-9_+\-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`)

// ValidEmail reports whether s is an address the upstream accepts.
func ValidEmail(s string) bool {
	return len(s) <= MaxEmailLen && !strings.HasPrefix(s, ".") && !strings.Contains(s, "..") && emailPattern.MatchString(s)
}

func checkEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	if !ValidEmail(s) {
		return "", fmt.Sprintf("must be a valid email address of at most %d bytes", MaxEmailLen)
	}
	return s, ""
}

func checkIP(s string) (string, string) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", "must be an IPv4 or IPv6 address"
	}
	return a.String(), ""
}

// EndUserAddr reports whether a is worth sending as an end user's address: a
// loopback, private, link-local, multicast or unspecified address is the
// provider's own network, never a visitor.
func EndUserAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsLoopback() && !a.IsPrivate() && !a.IsUnspecified() &&
		!a.IsLinkLocalUnicast() && !a.IsLinkLocalMulticast() && !a.IsMulticast() && !a.IsInterfaceLocalMulticast()
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

// MaskIP keeps the network of an address, for logs: 203.0.113.0/24 or a /48.
func MaskIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	bits := 24
	if a.Is6() && !a.Is4In6() {
		bits = 48
	}
	p, _ := a.Unmap().Prefix(bits)
	return p.String()
}
