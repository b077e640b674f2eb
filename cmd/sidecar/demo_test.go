package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The demo as a new user meets it, in a browser: the README's first command,
// then the landing URL it prints.
func TestTheDemosSignUpIsDeliveredDirectToItsClickAndItsPagesFollowTheAnswer(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	landing, dashboard, mockPage := startDemo(t)
	mockURL := strings.TrimSuffix(mockPage, "/_mock/")
	click := landing[strings.Index(landing, "glp_click_id=")+len("glp_click_id="):]
	admin := strings.TrimSuffix(dashboard, "/admin/")

	tab, cancel, errs := newWatchedTab(ctx)
	defer cancel()
	err := chromedp.Do(tab,
		chromedp.Navigate(landing), chromedp.WaitVisible(`#logged[data-state="ok"]`),
		chromedp.Click("a.cta"), chromedp.WaitVisible("#email"), chromedp.Click("#submit"),
		chromedp.WaitVisible("#answer"), chromedp.WaitReady(`body`),
	)
	if err != nil {
		t.Fatalf("%v; page errors: %s", err, errs)
	}
	screenshot(tab, "demo-welcome.png")
	title, _ := chromedp.Run(tab, chromedp.Text("#title"))
	lead, _ := chromedp.Run(tab, chromedp.Text("#lead"))
	if title != "Welcome aboard." || !strings.Contains(lead, "stored your conversion") {
		t.Errorf("the welcome page says %q / %q", title, lead)
	}
	c := awaitConversion(t, mockURL, click)
	if c["method"] != "direct" {
		t.Errorf("the mock attributed the demo's conversion %v: want direct", c["method"])
	}
	waitFor(t, func() bool {
		_, st, _ := call(t, "GET", admin+"/admin/api/stats", "", "")
		states, _ := st["states"].(map[string]any)
		return states["delivered"] == 1.0
	})

	// The mock's page, as the README says: the conversion, direct.
	mt, cancelMock := context.WithTimeout(tab, 20*time.Second)
	defer cancelMock()
	if err := chromedp.Do(mt, chromedp.Navigate(mockPage)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		text, _ := chromedp.Run(mt, chromedp.Text("body"))
		return strings.Contains(text, click) && strings.Contains(text, "direct")
	})
	screenshot(mt, "demo-mock-page.png")
	if os.Getenv("GLP_SCREENS_DIR") != "" {
		chromedp.Do(mt, chromedp.Navigate(dashboard), chromedp.Sleep(2*time.Second))
		screenshot(mt, "demo-dashboard.png")
	}

	// A conversion the sidecar refuses is never celebrated: the sign-up page
	// says so and stays.
	err = chromedp.Do(tab,
		chromedp.Navigate(strings.Split(landing, "/?")[0]+"/signup"), chromedp.WaitVisible("#email"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('email').value = 'not-an-email';
document.getElementById('signup').dispatchEvent(new Event('submit', {cancelable: true}));`),
		chromedp.WaitVisible(`#refused[data-state="refused"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(tab, "demo-refused.png")
	refused, _ := chromedp.Run(tab, chromedp.Text("#refused"))
	where, _ := chromedp.Run(tab, chromedp.Evaluate[string]("location.pathname"))
	if !strings.Contains(refused, "refused this conversion (400)") || !strings.Contains(refused, "email") || where != "/signup" {
		t.Errorf("a refused sign-up: %q on %s", refused, where)
	}
}

// screenshot saves the tab as a PNG under GLP_SCREENS_DIR, for people to
// look at; without it, nothing.
func screenshot(tab context.Context, name string) {
	dir := os.Getenv("GLP_SCREENS_DIR")
	if dir == "" {
		return
	}
	if shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(dir, name), shot, 0o644)
	}
}
