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

// TestTheDashboardShowsWhyDeliveryIsPaused opens the dashboard in Chromium
// while GLP Winner refuses the credentials: the banner says delivery is
// paused and why, the token never reaches the page or the cookie jar as
// itself, and the dashboard's own state-changing calls still pass the
// admin's Origin and non-simple-request checks. With SCREENSHOT_DIR set it
// saves what the operator sees there.
func TestTheDashboardShowsWhyDeliveryIsPaused(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	const adminToken = "dashboard-admin-token-4f5e6d7c"
	s := startStack(t, "GLP_API_TOKEN=a-rotated-token-glp-winner-refuses", "GLP_ADMIN_TOKEN="+adminToken)
	for _, b := range []string{`{"glpClickId":"dash-1","email":"pat@example.com","conversion_id":"D-1"}`, `{"glpClickId":"dash-2","conversion_id":"D-2"}`} {
		call(t, "POST", s.public+"/glp-s2s-conversion", "", b)
	}
	tab, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	err := chromedp.Do(tab,
		chromedp.Navigate(s.admin+"/admin/?token="+adminToken),
		chromedp.WaitVisible("#banner.paused"),
		chromedp.WaitVisible("#events tr[data-id]"),
	)
	if err != nil {
		t.Fatalf("the dashboard: %v; sidecar: %s", err, s.sidecar.stderr)
	}
	banner, _ := chromedp.Run(tab, chromedp.Text("#banner"))
	if !strings.Contains(banner, "Delivery paused") || !strings.Contains(banner, "refused the credentials") || !strings.Contains(banner, "GLP_API_TOKEN") {
		t.Errorf("the banner says %q", banner)
	}
	address, _ := chromedp.Run(tab, chromedp.Evaluate[string]("location.href"))
	html, _ := chromedp.Run(tab, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
	if strings.Contains(address, adminToken) || strings.Contains(html, adminToken) {
		t.Errorf("the admin token stays in the address bar or the page: %s", address)
	}
	// The dashboard's own requeue call, as its buttons make it.
	status, err := chromedp.Run(tab, chromedp.Evaluate[string](`api("/admin/api/events/retry?state=dead", {method: "POST"}).then(b => "ok " + JSON.stringify(b), e => "refused " + e.message)`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(status, "ok ") {
		t.Errorf("the dashboard's retry call: %q %v", status, err)
	}
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "dashboard-credentials-refused.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
