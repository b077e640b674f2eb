package sidecar_test

import (
	"net/netip"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

func TestClientKeyIsTheAddressOrItsSlash64(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9": "203.0.113.9/32", "::ffff:203.0.113.9": "203.0.113.9/32",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "2001:db8:1:2::ffff": "2001:db8:1:2::/64",
	} {
		if got := sidecar.ClientKey(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("ClientKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestTheLimiterAllowsItsBurstThenItsRateAndKeepsItsTableBounded(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	l := sidecar.NewLimiter[string](1, 3, 100)
	for i := 0; i < 3; i++ {
		if d := l.Allow("a", now); d != 0 {
			t.Fatalf("within the burst: wait %s", d)
		}
	}
	if d := l.Allow("a", now); d <= 0 || d > time.Second {
		t.Errorf("over the burst: wait %s, want up to 1s", d)
	}
	if d := l.Allow("a", now.Add(time.Second)); d != 0 {
		t.Errorf("a second later: wait %s", d)
	}
	for i := 0; i < 10_000; i++ {
		l.Allow(string(rune(i+1000)), now.Add(time.Duration(i)*time.Millisecond))
		if n := l.Len(); n > 100 {
			t.Fatalf("%d keys tracked, at most 100", n)
		}
	}
}
