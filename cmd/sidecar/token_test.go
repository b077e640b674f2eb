package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTheTokenNeverLeaves runs the sidecar through everything it shows to
// anyone (answers, pages, metrics, logs, the CLI, errors, a refused token)
// and looks for the tokens in all of it.
func TestTheTokenNeverLeaves(t *testing.T) {
	t.Parallel()
	const good, wrong = "tok-SECRET-5f3a9c0d", "tok-WRONG-77aa1e2b"
	mock := start(t, []string{"GLP_MOCK_LISTEN_ADDR=127.0.0.1:0", "GLP_MOCK_PROVIDERS=123=" + good}, "mock")
	mockURL := mock.url(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(good+"\n"), 0o600)

	var seen bytes.Buffer
	get := func(method, url, body string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if method == "POST" {
			req.Header.Set("Authorization", "Bearer "+testIngestToken) // server calls: ?wait= shows the upstream's body
		}
		resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		seen.WriteString(method + " " + url + " " + resp.Status + "\n")
		for k, v := range resp.Header {
			seen.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
		io.Copy(&seen, resp.Body)
		resp.Body.Close()
	}
	exercise := func(c *child) (admin string) {
		u := c.urls(t)
		pub, adm := u[0], u[1]
		for _, body := range []string{
			`{"glpClickId":"leak-1","email":"a@example.com","conversion_id":"L-1"}`,
			`{"email":"nobody@example.com"}`, `{"glpClickId":"a b"}`, `{}`, `[`,
		} {
			get("POST", pub+"/glp-s2s-conversion?wait=2s", body)
		}
		req, _ := http.NewRequest("POST", pub+"/glp-s2s-conversion", strings.NewReader(`{"glpClickId":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testIngestToken+"-wrong")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(&seen, resp.Body)
			resp.Body.Close()
		}
		get("GET", pub+"/glp.js", "")
		get("GET", pub+"/nowhere?glp_click_id=leak-2", "")
		for _, p := range []string{"/healthz", "/readyz", "/metrics", "/admin/", "/admin/api/stats", "/admin/api/events", "/admin/api/clicks", "/admin/api/events/nope"} {
			get("GET", adm+p, "")
		}
		get("GET", adm+"/admin/api/events?limit=1", "")
		return adm
	}

	// The right token, from a file.
	db := filepath.Join(t.TempDir(), "outbox.db")
	ok := start(t, []string{"GLP_PROVIDER_ID=123", "GLP_API_TOKEN_FILE=" + tokenFile, "GLP_API_URL=" + mockURL, "GLP_LOG_LEVEL=debug",
		"GLP_LISTEN_ADDR=127.0.0.1:0", "GLP_ADMIN_ADDR=127.0.0.1:0", "GLP_DB_PATH=" + db, "GLP_INGEST_TOKEN=" + testIngestToken}, "serve")
	exercise(ok)
	for _, args := range [][]string{{"stats"}, {"list", "--json"}, {"list"}} {
		out, _ := sidecarCmd(t, []string{"GLP_DB_PATH=" + db}, append([]string{"outbox"}, args...)...).CombinedOutput()
		seen.Write(out)
	}

	// A wrong token: the relay pauses and says why.
	paused := start(t, serveEnv(t, "GLP_API_TOKEN="+wrong, "GLP_API_URL="+mockURL, "GLP_LOG_LEVEL=debug"), "serve")
	pausedAdmin := exercise(paused)
	waitFor(t, func() bool {
		_, st, _ := call(t, "GET", pausedAdmin+"/admin/api/stats", "", "")
		relay, _ := st["relay"].(map[string]any)
		return relay["mode"] == "paused"
	})

	// Configuration errors that concern the token.
	for _, env := range [][]string{
		{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=" + good + " x"},
		{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=" + good, "GLP_API_TOKEN_FILE=" + tokenFile},
	} {
		out, _ := sidecarCmd(t, env, "serve").CombinedOutput()
		seen.Write(out)
	}
	out, _ := sidecarCmd(t, nil, "help").CombinedOutput()
	seen.Write(out)

	for _, c := range []*child{ok, paused, mock} {
		c.cmd.Process.Signal(os.Interrupt)
		c.cmd.Wait()
		seen.Write(c.stderr.Bytes())
		rest, _ := io.ReadAll(c.stdout)
		seen.Write(rest)
	}
	all := seen.String()
	if !strings.Contains(all, "refused the credentials") || !strings.Contains(all, "event delivered") {
		t.Fatalf("the run did not exercise what it should; saw:\n%s", all)
	}
	for _, tok := range []string{good, wrong, testIngestToken} {
		if i := strings.Index(all, tok); i >= 0 {
			t.Errorf("the token %s appears: …%s…", tok, all[max(0, i-200):min(len(all), i+100)])
		}
	}
	t.Logf("searched %d bytes of answers, pages, metrics, logs, CLI output and errors", len(all))
}
