package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/admin"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

type relay struct{}

func (relay) Status() sidecar.RelayStatus { return sidecar.RelayStatus{Mode: "running"} }
func (relay) Notify()                     {}

// failing is the outbox with a List that fails as a broken disk would.
type failing struct{ *sqlite.Store }

func (failing) List(context.Context, sidecar.State, string, int) ([]sidecar.Event, error) {
	return nil, errors.New("list events: disk I/O error at /var/lib/glp/secret.db")
}

func adminServer(t *testing.T, store func(*sqlite.Store) admin.Store) *httptest.Server {
	t.Helper()
	box, err := sqlite.Open(sqlite.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	s := store(box)
	srv, err := admin.New(admin.Options{Store: s, Relay: relay{}, Metrics: watching(s, relay{})})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); box.Close() })
	return ts
}

// The admin API answers a domain error with its code's status and its
// message (and the bad fields), and any other error with a 500 that does not
// show its cause; every answer is JSON that is never cached.
func TestTheAdminAPIAnswersErrorsByTheirCode(t *testing.T) {
	ok := adminServer(t, func(b *sqlite.Store) admin.Store { return b })
	broken := adminServer(t, func(b *sqlite.Store) admin.Store { return failing{b} })
	for _, tt := range []struct {
		url    string
		status int
		body   string
	}{
		{ok.URL + "/admin/api/events?state=bogus", 400,
			`{"error":"Invalid query","details":{"state":"must be one of ` + sidecar.StateNames(sidecar.States()) + `"}}`},
		{ok.URL + "/admin/api/events?limit=0", 400, `{"error":"Invalid query","details":{"limit":"must be a whole number from 1 to 500"}}`},
		{ok.URL + "/admin/api/events/01NOSUCHEVENT", 404, `{"error":"no event 01NOSUCHEVENT"}`},
		{broken.URL + "/admin/api/events", 500, `{"error":"Internal error reading the outbox"}`},
	} {
		resp, err := http.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || strings.TrimSpace(string(b)) != tt.body ||
			resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d %s %v, want %d %s", tt.url, resp.StatusCode, b, resp.Header, tt.status, tt.body)
		}
	}
}

// watching is the metrics of a sidecar whose outbox is store and whose
// relay is rl.
func watching(store admin.StatsSource, rl admin.StatusSource) *admin.Metrics {
	m := admin.NewMetrics(nil)
	m.Watch(store, rl)
	return m
}
