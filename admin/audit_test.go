package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/admin"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// auditedServer is an admin server over a real outbox file, audited, with
// opts' authentication; its handler is called directly, so that a test can
// choose the peer's address.
func auditedServer(t *testing.T, opts admin.Options) (http.Handler, *sqlite.Store) {
	t.Helper()
	box, err := sqlite.Open(sqlite.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	opts.Store, opts.Relay, opts.Metrics, opts.Audit = box, relay{}, watching(box, relay{}), box
	srv, err := admin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv, box
}

func serve(h http.Handler, peer, method, target string, header map[string]string) (int, string) {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = peer + ":40000"
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func auditLines(t *testing.T, box *sqlite.Store) []sidecar.AuditEntry {
	t.Helper()
	var out []sidecar.AuditEntry
	if _, err := box.AuditLines(context.Background(), time.Time{}, time.Time{}, func(e sidecar.AuditEntry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWithProxyAuthOnlyATrustedProxyNamesTheUserAndARequestWithoutOneIsRefused(t *testing.T) {
	h, box := auditedServer(t, admin.Options{Auth: admin.AuthProxy, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}})
	for _, tt := range []struct {
		name   string
		peer   string
		header map[string]string
		status int
	}{
		{"a stranger naming a user", "10.0.0.6", map[string]string{"X-Forwarded-Email": "alice@clinic.example"}, 403},
		{"the proxy naming nobody", "10.0.0.5", nil, 401},
		{"the proxy naming a user with a control character", "10.0.0.5", map[string]string{"X-Forwarded-User": "alice\x01"}, 401},
		{"the proxy naming a user", "10.0.0.5", map[string]string{"X-Forwarded-User": "alice"}, 200},
		{"the proxy naming an email the auth_request way", "10.0.0.5", map[string]string{"X-Auth-Request-Email": "bob@clinic.example"}, 200},
	} {
		code, body := serve(h, tt.peer, "GET", "http://127.0.0.1/admin/api/events", tt.header)
		if code != tt.status || !json.Valid([]byte(body)) {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.status)
		}
	}
	var users []string
	for _, l := range auditLines(t, box) {
		users = append(users, l.User)
	}
	if strings.Join(users, ",") != "alice,bob@clinic.example" {
		t.Errorf("audited users %v", users)
	}
}

func TestWithTheTokenTheAuditNamesTheSessionByAFingerprintNeverTheToken(t *testing.T) {
	const token = "admin-token-0123456789abcdef"
	h, box := auditedServer(t, admin.Options{Token: token})
	serve(h, "127.0.0.1", "GET", "http://127.0.0.1/admin/api/clicks", map[string]string{"Authorization": "Bearer " + token})
	serve(h, "127.0.0.1", "GET", "http://127.0.0.1/admin/api/stats", map[string]string{"Authorization": "Bearer " + token}) // reads no personal data: not audited
	lines := auditLines(t, box)
	if len(lines) != 1 || lines[0].User != "token:"+admin.Fingerprint(token) || lines[0].Action != admin.ActionClicksList {
		t.Fatalf("audit %+v", lines)
	}
	b, _ := json.Marshal(lines)
	if strings.Contains(string(b), token) {
		t.Errorf("the token is in the audit: %s", b)
	}
}

func TestAnAuditLineKeepsTheRangeOfAReadNeverOtherQueryParameters(t *testing.T) {
	h, box := auditedServer(t, admin.Options{})
	serve(h, "127.0.0.1", "GET", "http://127.0.0.1/admin/api/events?state=queued&limit=5&email=patient%40example.com&token=x", nil)
	lines := auditLines(t, box)
	if len(lines) != 1 || lines[0].Target != "events?limit=5&state=queued" {
		t.Fatalf("audit %+v", lines)
	}
}
