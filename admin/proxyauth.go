package admin

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/glpwinner/glp-sidecar/internal/web"
)

// Admin authentication modes (GLP_ADMIN_AUTH).
const (
	AuthToken = "token"
	AuthProxy = "proxy"
)

// ProxyUserHeaders are the headers an authenticating proxy names its user
// in, in the order they are read: oauth2-proxy's --pass-user-headers
// (X-Forwarded-Email, X-Forwarded-User) and --set-xauthrequest
// (X-Auth-Request-Email), and their kin.
var ProxyUserHeaders = []string{"X-Forwarded-Email", "X-Forwarded-User", "X-Auth-Request-Email"}

// maxUserLen bounds a proxy-named user.
const maxUserLen = 256

// requireProxyUser takes the admin user from the authenticating proxy in
// front: only a peer in trusted may name one, and a request without one is
// refused. A stranger who reaches the listener directly is a peer outside
// trusted, whatever headers it sends.
func requireProxyUser(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !web.Trusted(web.PeerAddr(r), trusted) {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "Forbidden: with GLP_ADMIN_AUTH=proxy the admin API answers only the authenticating proxy (GLP_TRUSTED_PROXIES)"})
				return
			}
			user := proxyUser(r)
			if user == "" {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized: the authenticating proxy named no user (X-Forwarded-Email, X-Forwarded-User or X-Auth-Request-Email)"})
				return
			}
			next.ServeHTTP(w, withRequest(r, user))
		})
	}
}

// proxyUser is the first user header that holds a printable name of at
// most maxUserLen bytes; "" for none.
func proxyUser(r *http.Request) string {
	for _, h := range ProxyUserHeaders {
		v := strings.TrimSpace(r.Header.Get(h))
		if v == "" {
			continue
		}
		if len(v) > maxUserLen || strings.ContainsFunc(v, func(c rune) bool { return c < ' ' || c == 0x7f }) {
			return ""
		}
		return v
	}
	return ""
}
