package ingest

import "net/netip"

// endUserAddr reports whether a is worth sending as an end user's address: a
// loopback, private, link-local, multicast or unspecified address is the
// provider's own network, never a visitor.
func endUserAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsLoopback() && !a.IsPrivate() && !a.IsUnspecified() &&
		!a.IsLinkLocalUnicast() && !a.IsLinkLocalMulticast() && !a.IsMulticast() && !a.IsInterfaceLocalMulticast()
}

// maskIP keeps the network of an address, for logs: 203.0.113.0/24 or a /48.
func maskIP(s string) string {
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
