package web_test

import (
	"net/netip"
	"testing"

	"github.com/glpwinner/glp-sidecar/internal/web"
)

func TestClientKeyIsTheAddressOrItsSlash64(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9": "203.0.113.9/32", "::ffff:203.0.113.9": "203.0.113.9/32",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "2001:db8:1:2::ffff": "2001:db8:1:2::/64",
	} {
		if got := web.ClientKey(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("ClientKey(%s) = %s, want %s", in, got, want)
		}
	}
}
