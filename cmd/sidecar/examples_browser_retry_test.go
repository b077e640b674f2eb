package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// restartUnder stops the sidecar, runs act (a click that sends a
// conversion) while nothing listens, and starts it again on the same
// address and outbox 1.5 s later: a restart under Compose, slower than a
// browser's first attempts.
func restartUnder(t *testing.T, sc *child, env []string, act func() error) *child {
	t.Helper()
	stopChild(t, sc)
	if err := act(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	sc = start(t, env, "serve")
	sc.url(t)
	return sc
}

// TestTheGlpJsExampleRetriesAcrossARestartOfTheSidecar signs up on the
// glp.js page (another origin) while the sidecar restarts: the page sends
// the conversion again until the sidecar is back, and the mock holds it
// once.
func TestTheGlpJsExampleRetriesAcrossARestartOfTheSidecar(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	mockURL := serveMockInProcess(t)
	sidecarURL := "http://127.0.0.1:" + freePort(t)
	site := glpjsSite(t, func() string { return sidecarURL })
	origin := "http://localhost:" + site.URL[strings.LastIndex(site.URL, ":")+1:]
	env := serveEnv(t, "GLP_API_URL="+mockURL, "GLP_ALLOWED_ORIGINS="+origin, "GLP_LISTEN_ADDR="+strings.TrimPrefix(sidecarURL, "http://"), corroborated)
	sc := start(t, env, "serve")
	sc.url(t)

	click := "ex-glpjs-restart"
	tab, cancel, errs := landAndSignUp(t, ctx, mockURL, origin+"/index.html", click, "glpjs-restart@example.com")
	defer cancel()
	restartUnder(t, sc, env, func() error { return chromedp.Do(tab, chromedp.SendKeys("#order", "3101"), chromedp.Click("#submit")) })
	if err := chromedp.Do(tab, chromedp.WaitVisible("#result.done")); err != nil {
		t.Fatal(err)
	}
	result, _ := chromedp.Run(tab, chromedp.Text("#result"))
	if !strings.HasPrefix(result, "signed up; conversion queued (event ") || errs.String() != "" {
		t.Fatalf("the page says %q; its errors: %s", result, errs)
	}
	awaitConversion(t, mockURL, click)
	if n := mockHeld(t, mockURL)["3101"]; n != 1 {
		t.Errorf("the mock holds order 3101 %d times, want once", n)
	}
}

// TestTheHybridExampleRetriesAcrossARestartOfTheSidecar submits the
// guide's hybrid page (served through the sidecar) while the sidecar
// restarts: the page waits, sends again with the same key, and moves on to
// the confirmation once the sidecar is back; the mock holds the conversion
// once.
func TestTheHybridExampleRetriesAcrossARestartOfTheSidecar(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	mockURL := serveMockInProcess(t)
	app := httptest.NewServer(http.FileServer(http.Dir(examplesDir(t, "hybrid"))))
	defer app.Close()
	addr := "127.0.0.1:" + freePort(t)
	// always: the mock's record shows the email the page sent.
	env := serveEnv(t, "GLP_API_URL="+mockURL, "GLP_APP_URL="+app.URL, "GLP_LISTEN_ADDR="+addr, "GLP_SEND_PERSONAL_DATA=always", corroborated)
	sc := start(t, env, "serve")
	front := sc.url(t)

	click := "ex-hybrid-restart"
	tab, cancel, errs := landAndSignUp(t, ctx, mockURL, front+"/", click, "hybrid-restart@example.com")
	defer cancel()
	restartUnder(t, sc, env, func() error { return chromedp.Do(tab, chromedp.Click("#submit")) })
	if err := chromedp.Do(tab, chromedp.WaitVisible("#confirmed")); err != nil {
		t.Fatal(err)
	}
	if errs.String() != "" {
		t.Errorf("the pages reported errors: %s", errs)
	}
	c := awaitConversion(t, mockURL, click)
	if c["email"] != "hybrid-restart@example.com" {
		t.Errorf("the mock recorded %v", c)
	}
	n := 0
	for _, h := range mockConversions(t, mockURL) {
		if h["glp_click_id"] == click {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the mock holds %d conversions for %s, want one", n, click)
	}
}
