package ingest

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Limits of a conversion's fields.
const (
	maxTokenLen = 256 // session token, conversion id and Idempotency-Key
	maxEmailLen = 254
)

// conversionRequest is a decoded request to the conversion endpoint.
type conversionRequest struct {
	sidecar.Conversion
	TestMode bool
}

// stringField is one accepted string field: its spellings, the first
// present one winning, its rule and where the value goes.
type stringField struct {
	names []string
	check func(string) (string, string) // value → normalised value, or "" and what is wrong
	dst   func(*conversionRequest) *string
}

var conversionFields = []stringField{
	{[]string{"glpClickId", "transaction_id", "glp_click_id"}, checkClickID, func(r *conversionRequest) *string { return &r.ClickID }},
	{[]string{"session_token", "sessionToken"}, checkToken, func(r *conversionRequest) *string { return &r.SessionToken }},
	{[]string{"email"}, checkEmail, func(r *conversionRequest) *string { return &r.Email }},
	{[]string{"ip"}, checkIP, func(r *conversionRequest) *string { return &r.IP }},
	{[]string{"conversion_id", "conversionId"}, checkToken, func(r *conversionRequest) *string { return &r.ConversionID }},
}

const testModeName = "testMode"

// conversions decodes the endpoint's bodies.
var conversions = newSchema(conversionFields)

// decodeConversion decodes and validates a conversion request body. Absent
// and null fields are left empty; unknown fields are ignored. A failure is an
// *sidecar.Error with code EInvalid naming each bad field, as the caller
// spelt it.
//
// It reads the body once, token by token, keeping only the names it knows
// (a map of raw values, then each value again, cost an eighth of an
// accept's CPU).
func decodeConversion(data []byte) (conversionRequest, error) { return conversions.decode(data) }

// schema is a body's name table: its fields, every name they accept (and
// testMode) numbered, and the pooled decoders whose members have a slot for
// each of those names.
type schema struct {
	fields   []stringField
	index    map[string]int // name → its slot in a decoder's members
	decoders sync.Pool
}

func newSchema(fields []stringField) *schema {
	s := &schema{fields: fields, index: map[string]int{testModeName: 0}}
	for _, f := range fields {
		for _, n := range f.names {
			if _, dup := s.index[n]; !dup {
				s.index[n] = len(s.index)
			}
		}
	}
	slots := len(s.index)
	s.decoders.New = func() any { return &decoder{index: s.index, members: make([]member, slots)} }
	return s
}

// member is the last value a body gave one accepted name.
type member struct {
	kind jsontext.Kind // 0 when absent
	text string        // a string's value
}

// decoder reads one body; pooled, for a conversion arrives with every request.
type decoder struct {
	r       bytes.Reader
	d       jsontext.Decoder
	index   map[string]int
	members []member // indexed by index: one slot per accepted name
}

// decodeOptions make the tokenizer as lenient as encoding/json.Unmarshal: a
// repeated name's last value wins, invalid UTF-8 becomes U+FFFD.
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

func (s *schema) decode(data []byte) (conversionRequest, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return conversionRequest{}, invalid(map[string]string{"body": "is empty; send a JSON object"})
	}
	dc := s.decoders.Get().(*decoder)
	defer s.decoders.Put(dc)
	clear(dc.members)
	dc.r.Reset(data)
	dc.d.Reset(&dc.r, decodeOptions...)
	if problem := dc.readObject(); problem != "" {
		return conversionRequest{}, invalid(map[string]string{"body": problem})
	}
	var req conversionRequest
	bad := map[string]string{}
	for _, f := range s.fields {
		name, m := dc.firstPresent(f.names)
		switch {
		case m.kind == 0:
		case m.kind != '"':
			bad[name] = "must be a string, not " + kindName(m.kind)
		case hasControl(m.text):
			bad[name] = controlProblem
		default:
			if v, problem := f.check(m.text); problem != "" {
				bad[name] = problem
			} else {
				*f.dst(&req) = v
			}
		}
	}
	switch m := dc.members[s.index[testModeName]]; m.kind {
	case 0, 'n', 'f':
	case 't':
		req.TestMode = true
	default:
		bad[testModeName] = "must be a boolean, not " + kindName(m.kind)
	}
	if len(bad) > 0 {
		return conversionRequest{}, invalid(bad)
	}
	return req, nil
}

// notJSON is what is wrong with a body that is no JSON text.
const notJSON = "is not valid JSON"

// readObject reads the body's one object into members, and says what is
// wrong with the body when it is not one JSON object.
func (dc *decoder) readObject() string {
	d := &dc.d
	if k := d.PeekKind(); k != '{' {
		return notAnObject(d, k)
	}
	if _, err := d.ReadToken(); err != nil {
		return notJSON
	}
	for d.PeekKind() != '}' {
		if !dc.readMember() {
			return notJSON
		}
	}
	if _, err := d.ReadToken(); err != nil || !atEnd(d) {
		return notJSON
	}
	return ""
}

// notAnObject says what is wrong with a body whose top-level value, of kind
// k, is not an object.
func notAnObject(d *jsontext.Decoder, k jsontext.Kind) string {
	switch k {
	case 'n', '"', 't', 'f', '0', '[':
	default:
		return notJSON
	}
	if d.SkipValue() != nil || !atEnd(d) {
		return notJSON
	}
	if k == 'n' {
		return "must be a JSON object"
	}
	return "must be a JSON object, not " + map[jsontext.Kind]string{'"': "string", 't': "bool", 'f': "bool", '0': "number", '[': "array"}[k]
}

// readMember reads one name and its value, keeping the value when the name
// is one the schema accepts; false when the body is not valid JSON.
func (dc *decoder) readMember() bool {
	d := &dc.d
	name, err := d.ReadToken()
	if err != nil {
		return false
	}
	i, known := dc.index[name.String()]
	if !known {
		return d.SkipValue() == nil
	}
	m := member{kind: d.PeekKind()}
	switch m.kind {
	case '"', 'n', 't', 'f':
		tok, err := d.ReadToken()
		if err != nil {
			return false
		}
		if m.kind == '"' {
			m.text = tok.String()
		}
	default:
		if d.SkipValue() != nil {
			return false
		}
	}
	dc.members[i] = m
	return true
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
		if m := dc.members[dc.index[n]]; m.kind != 0 && m.kind != 'n' {
			return n, m
		}
	}
	return "", member{}
}

func invalid(fields map[string]string) *sidecar.Error {
	return &sidecar.Error{Code: sidecar.EInvalid, Message: "Invalid request body", Fields: fields}
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

func checkClickID(s string) (string, string) {
	if !sidecar.ValidClickID(s) {
		return "", fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces or any of %s", sidecar.MaxClickIDLen, sidecar.ClickIDForbidden)
	}
	return s, ""
}

func checkToken(s string) (string, string) {
	if len(s) == 0 || len(s) > maxTokenLen {
		return "", fmt.Sprintf("must be 1 to %d bytes long", maxTokenLen)
	}
	return s, ""
}

// emailPattern is the address rule of the upstream's validator (Zod's email
// regex, less its look-aheads, which validEmail checks by hand), so that an
// address the sidecar accepts is never refused upstream.
var emailPattern = regexp.MustCompile(`^[A-Za-z0-9_'+\-.]*[A-Za-z0-9_+\-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`)

// validEmail reports whether s is an address the upstream accepts.
func validEmail(s string) bool {
	return len(s) <= maxEmailLen && !strings.HasPrefix(s, ".") && !strings.Contains(s, "..") && emailPattern.MatchString(s)
}

func checkEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	if !validEmail(s) {
		return "", fmt.Sprintf("must be a valid email address of at most %d bytes", maxEmailLen)
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

// controlProblem is what is wrong with a string field that holds a control
// character: refused whatever the field and whichever store keeps it, for
// such a character would reach a log line, a terminal or a spreadsheet.
const controlProblem = "must not hold a control character (U+0000 to U+001F, U+007F)"

// hasControl reports whether s holds a C0 control character or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
