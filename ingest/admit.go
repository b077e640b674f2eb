package ingest

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

// admit tells who calls, and refuses, before the body is read, an
// Authorization header that is not the ingest token, a body that is not
// JSON and a browser call over its address's rate (with a Retry-After).
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) (call, error) {
	server, ok := h.authorize(r)
	if !ok {
		return call{}, sidecar.Errorf(sidecar.EUnauthorized, "Unauthorized: the Authorization header is not Bearer <GLP_INGEST_TOKEN>; "+
			"browsers send none, backends send the sidecar's ingest token (never GLP Winner's API token)")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return call{}, sidecar.Errorf(sidecar.EUnsupportedType, "Content-Type must be application/json")
	}
	c := call{server: server, client: web.ClientAddr(r, h.opts.Trusted)}
	if !server {
		if wait := h.limit(c.client); wait > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
			return call{}, sidecar.Errorf(sidecar.ERateLimited, "Too many conversions from this address; retry later")
		}
	}
	return c, nil
}

// authorize tells a server call (the ingest token) from a browser call (no
// Authorization header); ok is false for any other Authorization header.
// The comparison takes the same time whatever the header holds.
func (h *Handler) authorize(r *http.Request) (server, ok bool) {
	auth, sent := r.Header["Authorization"]
	if !sent {
		return false, true
	}
	if h.opts.IngestToken == "" || len(auth) != 1 {
		return false, false
	}
	sum := sha256.Sum256([]byte(auth[0]))
	return true, subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

// limit returns 0 when a browser call from client may go on, else how long
// it should wait. Addresses of the provider's own network (loopback,
// private) are its servers and proxies, and are never limited.
func (h *Handler) limit(client netip.Addr) time.Duration {
	if h.limits == nil || !endUserAddr(client) {
		return 0
	}
	return h.limits.Allow(web.ClientKey(client), h.opts.Now())
}

// cors admits requests from the same origin, from GLP_ALLOWED_ORIGINS (with
// the CORS headers), and without an Origin (servers).
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	w.Header().Add("Vary", "Origin")
	if h.origins[strings.ToLower(origin)] {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions {
			hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			hd.Set("Access-Control-Allow-Headers", "Content-Type, Idempotency-Key, X-GLP-Test-Mode")
			hd.Set("Access-Control-Max-Age", "600")
		}
		return true
	}
	return h.sameOrigin(r, origin)
}

func (h *Handler) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := r.Host
	if fwd := forwardedHost(r); fwd != "" && web.Trusted(web.PeerAddr(r), h.opts.Trusted) {
		host = fwd
	}
	return strings.EqualFold(u.Host, host)
}

// originRefusal is the 403 for an Origin that may not call: it names
// GLP_TRUSTED_PROXIES when the request came through a proxy that forwards
// the visitor's host (a Next.js rewrite, a reverse proxy) which is not
// trusted, for then the origin is the site's own and allowing it is not
// the fix; else GLP_ALLOWED_ORIGINS.
func (h *Handler) originRefusal(r *http.Request) errorBody {
	origin := r.Header.Get("Origin")
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		if fwd := forwardedHost(r); fwd != "" && strings.EqualFold(u.Host, fwd) {
			return errorBody{outcome: "forbidden_origin", reason: ReasonOrigin, fix: "GLP_TRUSTED_PROXIES",
				ErrorBody: web.ErrorBody{Error: "Origin " + origin + " came through a proxy that is not in GLP_TRUSTED_PROXIES (its X-Forwarded-Host is not believed): " +
					"add the proxy's address to GLP_TRUSTED_PROXIES"}}
		}
	}
	return errorBody{outcome: "forbidden_origin", reason: ReasonOrigin, fix: "GLP_ALLOWED_ORIGINS",
		ErrorBody: web.ErrorBody{Error: "Origin " + origin + " may not call this endpoint; add it to GLP_ALLOWED_ORIGINS"}}
}

func forwardedHost(r *http.Request) string {
	return strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Host"), ",")[0])
}
