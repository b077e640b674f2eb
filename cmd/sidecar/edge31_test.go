package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
)

// Issue 31's findings, each against a real sidecar serve.

// No string field may hold a control character: 400 naming the field, and
// nothing stored, on the SQLite file and on PostgreSQL alike.
func TestAControlCharacterInAnyStringFieldIsRefusedNamingItOnEveryStore(t *testing.T) {
	t.Parallel()
	stores := map[string]func(*config.Config){
		"sqlite":   func(c *config.Config) { c.DBPath = filepath.Join(t.TempDir(), "outbox.db") },
		"postgres": func(c *config.Config) { c.DBURL = config.Secret(pgtest.URL(t)) },
	}
	for name, use := range stores {
		t.Run(name, func(t *testing.T) {
			cfg := stackConfig
			cfg.APIURL = serveMockInProcess(t)
			use(&cfg)
			m := serveInProcess(t, cfg)
			public, admin := "http://"+m.PublicAddr(), "http://"+m.AdminAddr()
			for field, body := range map[string]string{
				"conversion_id": `{"glpClickId":"ctl-1","conversion_id":"ORD\u001b[2J"}`,
				"session_token": `{"session_token":"s\u0000t"}`,
				"email":         `{"email":"a@example.com\n"}`,
				"conversionId":  `{"glpClickId":"ctl-1","conversionId":"ORD\u007f"}`,
				"glpClickId":    `{"glpClickId":"ctl\t1"}`,
			} {
				status, out, _ := send(t, "POST", public+"/glp-s2s-conversion", server, body)
				details, _ := out["details"].(map[string]any)
				if status != http.StatusBadRequest || details[field] == nil {
					t.Errorf("%s: %d %v; want 400 naming %s", body, status, out, field)
				}
				if why, _ := details[field].(string); status == http.StatusBadRequest && !strings.Contains(why, "control character") {
					t.Errorf("%s: the answer does not say why: %v", body, details[field])
				}
			}
			if _, out, _ := call(t, "GET", admin+"/admin/api/events?limit=10", "", ""); len(out["events"].([]any)) != 0 {
				t.Errorf("refused bodies stored events: %v", out["events"])
			}
		})
	}
}
