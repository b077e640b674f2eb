package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestASessionOpensTheAPIUntilItExpiresOrTheTokenChanges(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	const token = "admin-token-0123456789abcdef"
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	guard := requireToken(token, nil, clock)(ok)

	rec := httptest.NewRecorder()
	guard.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/?token="+token, nil))
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(cookies) != 1 || strings.Contains(cookies[0].Value, token) {
		t.Fatalf("?token=: %d %v", rec.Code, cookies)
	}
	status := func(g http.Handler, value string) int {
		req := httptest.NewRequest("GET", "/admin/api/stats", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: value})
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := status(guard, cookies[0].Value); got != http.StatusNoContent {
		t.Errorf("a fresh session: %d", got)
	}
	now = now.Add(SessionTTL - time.Second)
	if got := status(guard, cookies[0].Value); got != http.StatusNoContent {
		t.Errorf("a session a second before it expires: %d", got)
	}
	now = now.Add(time.Second)
	if got := status(guard, cookies[0].Value); got != http.StatusUnauthorized {
		t.Errorf("an expired session: %d, want 401", got)
	}
	now = now.Add(-time.Hour)
	rotated := requireToken("another-admin-token-0123456789", nil, clock)(ok)
	if got := status(rotated, cookies[0].Value); got != http.StatusUnauthorized {
		t.Errorf("a session of the token before it changed: %d, want 401", got)
	}
}
