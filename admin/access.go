package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/glpwinner/glp-sidecar/internal/web"
)

// SessionCookie is the dashboard's session cookie. Its value is a signed
// expiry, never the admin token: "v1.<unix expiry>.<HMAC-SHA256>", keyed by
// the token, so that it opens the API until it expires or the token changes,
// on every replica that shares the token, and tells nothing about the token.
const SessionCookie = web.AdminCookie

// SessionTTL is how long a dashboard session lasts.
const SessionTTL = 12 * time.Hour

// session signs and checks session cookies.
type session struct {
	key []byte
	now func() time.Time
}

func newSession(token string, now func() time.Time) session {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("glp-sidecar admin session key"))
	return session{key: m.Sum(nil), now: now}
}

func (s session) mac(expiry string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("v1." + expiry))
	return m.Sum(nil)
}

// issue returns a new session value and its expiry.
func (s session) issue() (string, time.Time) {
	exp := s.now().Add(SessionTTL).Truncate(time.Second)
	e := strconv.FormatInt(exp.Unix(), 10)
	return "v1." + e + "." + base64.RawURLEncoding.EncodeToString(s.mac(e)), exp
}

// valid reports whether v is a session this token signed that has not
// expired.
func (s session) valid(v string) bool {
	rest, ok := strings.CutPrefix(v, "v1.")
	if !ok {
		return false
	}
	e, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(e)) {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	return err == nil && s.now().Unix() < exp
}

// requireToken guards the admin API and dashboard with the bearer token,
// compared in constant time, or a session cookie. A browser may bring the
// token once as ?token= on the dashboard, which trades it for a session
// (HttpOnly, SameSite=Strict, Secure over HTTPS) and drops it from the
// address bar.
func requireToken(token string, trusted []netip.Prefix, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		want := []byte(token)
		ok := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), want) == 1 }
		sess := newSession(token, now)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if q := r.URL.Query().Get("token"); q != "" && ok(q) {
				v, exp := sess.issue()
				http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: v, Path: "/admin/", Expires: exp, MaxAge: int(SessionTTL / time.Second),
					HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: web.HTTPS(r, trusted)})
				u := *r.URL
				u.RawQuery = ""
				http.Redirect(w, r, u.String(), http.StatusSeeOther)
				return
			}
			if got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found && ok(got) {
				next.ServeHTTP(w, withRequest(r, "token:"+Fingerprint(got))) // the audit's user: never the token
				return
			}
			if c, err := r.Cookie(SessionCookie); err == nil && r.Header.Get("Authorization") == "" && sess.valid(c.Value) {
				next.ServeHTTP(w, withRequest(r, "session:"+Fingerprint(c.Value)))
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="glp-sidecar admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized: send Authorization: Bearer <GLP_ADMIN_TOKEN>, or open /admin/?token=<GLP_ADMIN_TOKEN> once"})
		})
	}
}

// requireHost answers only requests whose Host is an IP address, localhost
// or one of hosts: a DNS-rebinding page reaches the listener under a name
// of its own, and is refused.
func requireHost(hosts []string) func(http.Handler) http.Handler {
	allowed := map[string]bool{"localhost": true}
	for _, h := range hosts {
		allowed[strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hostAllowed(r.Host, allowed) {
				writeJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": "Misdirected Request: the admin API answers only under an IP address, localhost or a name in GLP_ADMIN_HOSTS"})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func hostAllowed(host string, allowed map[string]bool) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return true
	}
	return host != "" && allowed[host]
}

// AdminHeader is the custom header that, like a JSON body, makes a
// state-changing request one that a form or a simple cross-origin request
// cannot send.
const AdminHeader = "X-GLP-Admin"

// requireSameOrigin refuses state-changing requests from another origin
// (Go's CrossOriginProtection: Sec-Fetch-Site, else Origin against Host)
// and those a form could send: they must carry a JSON content type, the
// X-GLP-Admin header or an Authorization header, none of which a page can
// send to another origin without a preflight that this listener never
// answers.
func requireSameOrigin() func(http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "Forbidden: a state-changing request from another origin"})
	}))
	return func(next http.Handler) http.Handler {
		simple := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
			default:
				if !nonSimple(r) {
					writeJSON(w, http.StatusForbidden, map[string]string{"error": "Forbidden: send Content-Type: application/json or the " + AdminHeader + " header with a state-changing request"})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
		return cop.Handler(simple)
	}
}

func nonSimple(r *http.Request) bool {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	return ct == "application/json" || r.Header.Get(AdminHeader) != "" || r.Header.Get("Authorization") != ""
}
