package sidecar_test

import (
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
)

func TestMaskingKeepsOnlyWhatAnOperatorNeeds(t *testing.T) {
	for in, want := range map[string]string{"pat@example.com": "p•••@example.com", "x": "", "": ""} {
		if got := sidecar.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"203.0.113.77": "203.0.113.0/24", "2001:db8:1:2::9": "2001:db8:1::/48", "::ffff:198.51.100.4": "198.51.100.0/24", "nope": ""} {
		if got := sidecar.MaskIP(in); got != want {
			t.Errorf("MaskIP(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkDecodeConversion decodes and validates a typical 200-byte body.
func BenchmarkDecodeConversion(b *testing.B) {
	body := []byte(`{"glpClickId":"bench-run0-12345","email":"patient.12345@example.com","ip":"203.0.113.7","conversion_id":"order-run0-12345","testMode":false,"plan":"semaglutide-monthly"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sidecar.DecodeConversion(body); err != nil {
			b.Fatal(err)
		}
	}
}
