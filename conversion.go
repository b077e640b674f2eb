package sidecar

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
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

// stringField is one accepted string field: its spellings, the first
// present one winning, its rule and where the value goes.
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

const testModeName = "testMode"

// member is the last value a body gave one accepted name.
type member struct {
	kind jsontext.Kind // 0 when absent
	text string        // a string's value
}

// memberIndex numbers every accepted name: its slot in a body's members.
var memberIndex = func() map[string]int {
	m := map[string]int{testModeName: 0}
	for _, f := range conversionFields {
		for _, n := range f.names {
			m[n] = len(m)
		}
	}
	return m
}()

// decoder reads one body; pooled, for a conversion arrives with every request.
type decoder struct {
	r       bytes.Reader
	d       jsontext.Decoder
	members [16]member // indexed by memberIndex: room for every accepted name
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// decodeOptions make the tokenizer as lenient as encoding/json.Unmarshal: a
// repeated name's last value wins, invalid UTF-8 becomes U+FFFD.
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// DecodeConversion decodes and validates a conversion request body. Absent
// and null fields are left empty; unknown fields are ignored. A failure is an
// *Error with code EInvalid naming each bad field, as the caller spelt it.
//
// It reads the body once, token by token, keeping only the names it knows
// (a map of raw values, then each value again, cost an eighth of an
// accept's CPU).
func DecodeConversion(data []byte) (ConversionRequest, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return ConversionRequest{}, invalid(map[string]string{"body": "is empty; send a JSON object"})
	}
	dc := decoders.Get().(*decoder)
	defer decoders.Put(dc)
	dc.members = [16]member{}
	dc.r.Reset(data)
	dc.d.Reset(&dc.r, decodeOptions...)
	if problem := dc.readObject(); problem != "" {
		return ConversionRequest{}, invalid(map[string]string{"body": problem})
	}
	var req ConversionRequest
	bad := map[string]string{}
	for _, f := range conversionFields {
		name, m := dc.firstPresent(f.names)
		switch {
		case m.kind == 0:
		case m.kind != '"':
			bad[name] = "must be a string, not " + kindName(m.kind)
		default:
			if v, problem := f.check(m.text); problem != "" {
				bad[name] = problem
			} else {
				*f.dst(&req) = v
			}
		}
	}
	switch m := dc.members[memberIndex[testModeName]]; m.kind {
	case 0, 'n', 'f':
	case 't':
		req.TestMode = true
	default:
		bad[testModeName] = "must be a boolean, not " + kindName(m.kind)
	}
	if len(bad) > 0 {
		return ConversionRequest{}, invalid(bad)
	}
	return req, nil
}

// readObject reads the body's one object into members, and says what is
// wrong with the body when it is not one JSON object.
func (dc *decoder) readObject() string {
	d := &dc.d
	switch k := d.PeekKind(); k {
	case '{':
	case 'n', '"', 't', 'f', '0', '[':
		if d.SkipValue() != nil || !atEnd(d) {
			return "is not valid JSON"
		}
		if k == 'n' {
			return "must be a JSON object"
		}
		return "must be a JSON object, not " + map[jsontext.Kind]string{'"': "string", 't': "bool", 'f': "bool", '0': "number", '[': "array"}[k]
	default:
		return "is not valid JSON"
	}
	if _, err := d.ReadToken(); err != nil {
		return "is not valid JSON"
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil {
			return "is not valid JSON"
		}
		i, known := memberIndex[name.String()]
		if !known {
			if d.SkipValue() != nil {
				return "is not valid JSON"
			}
			continue
		}
		m := member{kind: d.PeekKind()}
		switch m.kind {
		case '"', 'n', 't', 'f':
			tok, err := d.ReadToken()
			if err != nil {
				return "is not valid JSON"
			}
			if m.kind == '"' {
				m.text = tok.String()
			}
		default:
			if d.SkipValue() != nil {
				return "is not valid JSON"
			}
		}
		dc.members[i] = m
	}
	if _, err := d.ReadToken(); err != nil || !atEnd(d) {
		return "is not valid JSON"
	}
	return ""
}

// atEnd reports whether nothing but white space follows the top-level value.
func atEnd(d *jsontext.Decoder) bool {
	_, err := d.ReadToken()
	return err == io.EOF
}

// firstPresent returns the first of names that the body gave a value other
// than null.
func (dc *decoder) firstPresent(names []string) (string, member) {
	for _, n := range names {
		if m := dc.members[memberIndex[n]]; m.kind != 0 && m.kind != 'n' {
			return n, m
		}
	}
	return "", member{}
}

func invalid(fields map[string]string) *Error {
	return &Error{Code: EInvalid, Message: "Invalid request body", Fields: fields}
}

// kindName names a JSON kind for an error message.
func kindName(k jsontext.Kind) string {
	switch k {
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

func checkClickID(s string) (string, string) {
	if !ValidClickID(s) {
		return "", fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces or any of %s", MaxClickIDLen, ClickIDForbidden)
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
	return a.Unmap().String(), "" // ::ffff:203.0.113.9 is 203.0.113.9: the upstream's soft match compares text
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
