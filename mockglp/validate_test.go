package mockglp

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// FuzzValidateConversion: whatever the body, the validator answers without
// panicking, its details are Zod's shape, and what it accepts obeys the
// schema.
func FuzzValidateConversion(f *testing.F) {
	for _, s := range []string{
		`{"providerId":123,"transaction_id":"abc"}`,
		`{"providerId":"123"}`,
		`{"providerId":1e3,"email":"a@b.co","ip":"::1"}`,
		`{"providerId":1.5,"ip":"fe80::1%eth0"}`,
		`[1,2]`, `null`, `{`, `"x"`,
		`{"providerId":9007199254740993,"session_token":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, z := validateConversion(body)
		out, err := json.Marshal(z)
		if err != nil {
			t.Fatal(err)
		}
		var shape map[string]json.RawMessage
		if err := json.Unmarshal(out, &shape); err != nil || shape["_errors"] == nil {
			t.Fatalf("details are not Zod's shape: %s", out)
		}
		if !z.empty() {
			return
		}
		if req.ProviderID <= 0 {
			t.Fatalf("accepted providerId %d", req.ProviderID)
		}
		if req.TransactionID == "" && req.SessionToken == "" && req.Email == "" && req.IP == "" {
			t.Fatal("accepted a body with nothing to attribute")
		}
		if req.IP != "" {
			if _, err := netip.ParseAddr(req.IP); err != nil {
				t.Fatalf("accepted ip %q", req.IP)
			}
		}
		if req.Email != "" && isEmail(req.Email) != "" {
			t.Fatalf("accepted email %q", req.Email)
		}
	})
}
