package ingest

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// FuzzDecodeConversion: whatever the body, decoding never panics, a refusal
// names at least one field, and what is accepted obeys every rule.
func FuzzDecodeConversion(f *testing.F) {
	for _, s := range []string{
		`{"glpClickId":"abc","email":"a@b.co","ip":"203.0.113.1","conversion_id":"o"}`,
		`{"transaction_id":null,"sessionToken":"s","testMode":true}`,
		`{"glpClickId":"a b"}`, `[]`, `null`, `"x"`, `{"email":" A@B.CO "}`, `{"ip":"::ffff:1.2.3.4"}`, `{"conversion_id":"a\u001bb"}`, `{"email":"a@b.co\n"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeConversion(body)
		if err != nil {
			var e *sidecar.Error
			if !errors.As(err, &e) || e.Code != sidecar.EInvalid || len(e.Fields) == 0 {
				t.Fatalf("refusal without a field: %v", err)
			}
			return
		}
		c := req.Conversion
		if c.ClickID != "" && !sidecar.ValidClickID(c.ClickID) {
			t.Fatalf("accepted click id %q", c.ClickID)
		}
		if c.Email != "" && (!validEmail(c.Email) || strings.TrimSpace(c.Email) != c.Email) {
			t.Fatalf("accepted email %q", c.Email)
		}
		if c.IP != "" {
			if a, err := netip.ParseAddr(c.IP); err != nil || a.Zone() != "" {
				t.Fatalf("accepted ip %q", c.IP)
			}
		}
		for _, s := range []string{c.ClickID, c.SessionToken, c.Email, c.IP, c.ConversionID} {
			if hasControl(s) {
				t.Fatalf("accepted a control character in %q", s)
			}
		}
		for _, s := range []string{c.SessionToken, c.ConversionID} {
			if len(s) > maxTokenLen {
				t.Fatalf("accepted %d bytes", len(s))
			}
		}
	})
}

func TestMaskingAnAddressKeepsOnlyItsNetwork(t *testing.T) {
	for in, want := range map[string]string{"203.0.113.77": "203.0.113.0/24", "2001:db8:1:2::9": "2001:db8:1::/48", "::ffff:198.51.100.4": "198.51.100.0/24", "nope": ""} {
		if got := maskIP(in); got != want {
			t.Errorf("maskIP(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkDecodeConversion decodes and validates a typical 200-byte body.
func BenchmarkDecodeConversion(b *testing.B) {
	body := []byte(`{"glpClickId":"bench-run0-12345","email":"patient.12345@example.com","ip":"203.0.113.7","conversion_id":"order-run0-12345","testMode":false,"plan":"semaglutide-monthly"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeConversion(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestADecoderHasASlotForEveryNameOfItsTable: the decoder's members are
// sized from its name table, so a table of more names than the 16 slots the
// decoder once had reads a body that gives each of them a value, on the
// request path, without a panic.
func TestADecoderHasASlotForEveryNameOfItsTable(t *testing.T) {
	const n = 40
	names := make([]string, n)
	var body strings.Builder
	body.WriteString("{")
	for i := range names {
		names[i] = fmt.Sprintf("name%d", i)
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, "%q:%q", names[n-1-i], fmt.Sprintf("value of %s", names[n-1-i]))
	}
	body.WriteString(`,"testMode":true}`)
	s := newSchema([]stringField{{names, checkToken, func(r *conversionRequest) *string { return &r.ConversionID }}})
	for _, tt := range []struct{ body, want string }{
		{body.String(), "value of name0"}, // the first spelling wins
		{`{"name39":"last"}`, "last"},     // the last name has a slot of its own
	} {
		req, err := s.decode([]byte(tt.body))
		if err != nil || req.ConversionID != tt.want {
			t.Errorf("%s: decoded %+v, %v; want conversion id %q", tt.body, req, err, tt.want)
		}
	}
	for name := range conversions.index {
		if _, err := decodeConversion([]byte(`{"` + name + `":null}`)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
