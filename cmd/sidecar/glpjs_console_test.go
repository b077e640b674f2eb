package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestGlpJsSaysOnTheConsoleWhyACallWasRefused: a page on an origin the
// sidecar does not list gets "Failed to fetch" from the browser alone;
// glp.js says on the console that its origin was refused and which variable
// takes it, and for an answer it can read (a 400) the status and the body.
func TestGlpJsSaysOnTheConsoleWhyACallWasRefused(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	var sidecar string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body><script src="%s/glp.js"></script></body></html>`, sidecar)
	}))
	defer site.Close()
	listed := "http://localhost:" + site.URL[strings.LastIndex(site.URL, ":")+1:] // another site than the sidecar's 127.0.0.1
	cfg := stackConfig
	cfg.APIURL, cfg.DBPath = serveMockInProcess(t), t.TempDir()+"/outbox.db"
	cfg.AllowedOrigins = []string{listed}
	m := serveInProcess(t, cfg)
	sidecar = "http://" + m.PublicAddr()

	convert := func(page, email string) string {
		t.Helper()
		tab, cancel, errs := newWatchedTab(ctx)
		defer cancel()
		err := chromedp.Do(tab, chromedp.Navigate(page), chromedp.WaitReady("body"),
			chromedp.Evaluate[chromedp.Void](`glp.convert({email: `+"`"+email+"`"+`}).catch(() => {}); void 0`))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for errs.String() == "" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		return strings.ReplaceAll(errs.String(), `\"`, `"`) // the console's arguments, as JSON strings
	}
	unlisted := site.URL // the same page, under another origin than the one listed
	got := convert(unlisted+"/", "pat@example.com")
	if want := "refused this page's origin " + unlisted + " (the browser says only \"Failed to fetch\"): add " + unlisted + " to the sidecar's GLP_ALLOWED_ORIGINS"; !strings.Contains(got, want) {
		t.Errorf("an origin not listed: the console says\n%s\nwant\n%s", got, want)
	}
	got = convert(listed+"/", "not-an-email")
	if !strings.Contains(got, `glp.js: the sidecar answered 400, the conversion is not tracked: {"error":"Invalid request body","details":{"email":"must be a valid email address`) {
		t.Errorf("a 400: the console says\n%s", got)
	}
}
