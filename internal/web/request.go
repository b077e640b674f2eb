// Package web holds what the sidecar's listeners (ingest, capture, admin)
// share about HTTP: who the client is behind the trusted proxies, whether it
// came over HTTPS, the key its limits count it under, the admin session
// cookie, and the one answer to an error by its code (Answer). It imports
// the root for the error codes, and no room.
package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// PeerAddr is the address of the request's immediate peer.
func PeerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// Trusted reports whether a is inside one of the trusted proxy prefixes.
func Trusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the end user's address: the peer's, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For address that is not one.
// Addresses a client wrote itself (left of the first untrusted hop) are
// never believed.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := PeerAddr(r)
	if !Trusted(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // a hop we cannot read: stop at the last one we could
		}
		addr = a.Unmap()
		if !Trusted(addr, trusted) {
			return addr
		}
	}
	return addr
}

// HTTPS reports whether the request reached the first trusted hop over
// HTTPS: directly, or by a trusted proxy's X-Forwarded-Proto.
func HTTPS(r *http.Request, trusted []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	if !Trusted(PeerAddr(r), trusted) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// AdminCookie is the admin dashboard's session cookie. The public
// listener's proxy never forwards it to the app.
const AdminCookie = "glp_admin"

// ClientKey is what the public listener's limits count a client address
// under: an IPv4 address itself, an IPv6 address's /64 (one subscriber's
// network: a client walks freely inside its own /64).
func ClientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}
