package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/glpwinner/glp-sidecar/internal/web"
)

// ProxyOptions configure the reverse proxy to the provider's app.
type ProxyOptions struct {
	Target    *url.URL
	Trusted   []netip.Prefix    // proxies in front of the sidecar whose X-Forwarded-* are kept
	Transport http.RoundTripper // nil: a transport with connect timeouts and no environment proxy
	Logger    *slog.Logger
}

// NewProxy returns a reverse proxy that sends every request on to the app
// unchanged: path (encoded characters too), query, body, the visitor's
// Host, streaming responses and WebSocket upgrades. The app learns the
// visitor from X-Forwarded-For/-Proto/-Host; those that came in, and every
// other header an app may believe for the client, the scheme, the host or
// the method (in any spelling), are kept only from trusted proxies. When the app does not answer, the visitor gets
// a plain 502 page.
func NewProxy(opts ProxyOptions) (http.Handler, error) {
	if opts.Target == nil || opts.Target.Host == "" {
		return nil, errors.New("capture: the proxy needs the app's URL")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Transport == nil {
		opts.Transport = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	target := opts.Target
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			trusted := web.Trusted(web.PeerAddr(pr.In), opts.Trusted)
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			dropCookie(pr.Out.Header, web.AdminCookie) // cookies are not per port: the admin session stays with the sidecar
			for h := range pr.Out.Header {
				if untrustedHeader(h, trusted) {
					delete(pr.Out.Header, h)
				}
			}
			if trusted {
				pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			}
			pr.SetXForwarded()
			if trusted {
				for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
					if v := pr.In.Header.Get(h); v != "" {
						pr.Out.Header.Set(h, v)
					}
				}
			}
		},
		Transport: opts.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			opts.Logger.Warn("the app did not answer", "path", r.URL.Path, "err", err)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, badGatewayPage)
		},
	}, nil
}

// dropCookie removes the cookie named name from the request's Cookie
// headers, and keeps the others as they came.
func dropCookie(h http.Header, name string) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		var parts []string
		for _, c := range strings.Split(line, ";") {
			if n, _, _ := strings.Cut(strings.TrimSpace(c), "="); n != name {
				parts = append(parts, strings.TrimSpace(c))
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	h.Del("Cookie")
	for _, line := range kept {
		h.Add("Cookie", line)
	}
}

// untrustedHeader reports whether a request header must not reach the app
// from a peer that is (trusted) or is not a trusted proxy. From an untrusted
// peer: every header an app may believe for the client's address, the
// scheme, the host, the URL or the method (clientHeader), and every name
// with an underscore, as nginx drops them, for CGI, PHP, WSGI and Rack read
// X_Forwarded_For as X-Forwarded-For. From a trusted proxy, its own
// X-Forwarded-* and the like go on, but an underscore spelling of one of
// them is still the visitor's own words (a load balancer passes unknown
// names through), and would overwrite the proxy's in the app.
func untrustedHeader(name string, trusted bool) bool {
	underscore := strings.ContainsRune(name, '_')
	if !trusted {
		return underscore || clientHeader(name)
	}
	return underscore && clientHeader(name)
}

// clientHeader reports whether name, in any case and with - or _, is one
// of the headers that apps and frameworks believe for the client's address,
// the scheme, the host, the URL or the method.
func clientHeader(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	if clientHeaders[n] {
		return true
	}
	for _, p := range clientHeaderPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	for _, part := range clientHeaderParts {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// The headers clientHeader knows: whole names (lower case), prefixes, and
// parts of a name (CF-Connecting-IP, True-Client-IP, X-Cluster-Client-IP,
// X-ProxyUser-IP and their kin).
var (
	clientHeaders = map[string]bool{
		"forwarded": true, "x-host": true, "x-scheme": true, "x-url-scheme": true, "front-end-https": true,
		"x-method-override": true, "x-arr-ssl": true, "x-appengine-user-ip": true,
	}
	clientHeaderPrefixes = []string{"x-forwarded", "x-original-", "x-rewrite-", "x-http-method", "x-real-"}
	clientHeaderParts    = []string{"client-ip", "connecting-ip", "real-ip", "proxyuser-ip", "remote-addr", "remote-ip"}
)

const badGatewayPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>502 Bad Gateway</title></head>
<body style="font:16px system-ui,sans-serif;margin:15vh auto;max-width:32rem;color:#1d2433">
<h1 style="font-size:22px">The site is not answering right now</h1>
<p>Please try again in a moment.</p>
<p style="color:#6b7385;font-size:13px">502 · glp-sidecar could not reach the app (GLP_APP_URL).</p>
</body></html>
`
