package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// holdAdminAPI pauses the page's calls to the admin API until release is
// closed (then lets them through), or fails them when fail is set: the page
// as it is before its first answer, or when the sidecar does not answer.
func holdAdminAPI(t *testing.T, tab context.Context, release <-chan struct{}, fail bool) {
	t.Helper()
	if _, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/admin/api/*"}}}); err != nil {
		t.Fatal(err)
	}
	paused := chromedp.Events(tab, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if fail {
				chromedp.Call(tab, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionRefused})
				continue
			}
			go func() {
				select {
				case <-release:
					chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				case <-tab.Done():
				}
			}()
		}
	}()
}

// navigateNoWait opens url without waiting for the load event, which the
// calls held by holdAdminAPI put off.
func navigateNoWait(url string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.Navigate, page.NavigateParams{URL: url})
		return err
	})
}

// TestTheDashboardSaysItIsLoadingAndFits1280Pixels: before the admin API's
// first answer the page says it is loading (and, when the API does not
// answer, that it cannot reach it) where the figures will be; once loaded,
// at 1280 px wide, with long click ids and an event open, no section cuts
// its content and the page needs no sideways scrolling.
func TestTheDashboardSaysItIsLoadingAndFits1280Pixels(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	s := startStackInProcess(t)
	var last string
	for i := range 5 {
		last = s.convert(t, fmt.Sprintf(`{"glpClickId":"campaign-spring-2026-affiliate-long-click-identifier-%d-abcdefghijklmnop","email":"patient.number.%d@example-telehealth-provider.com","conversion_id":"LAYOUT-%d"}`, i, i, i))
	}

	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	tab, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	release := make(chan struct{})
	holdAdminAPI(t, tab, release, false)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 900), navigateNoWait(s.admin+"/admin/"), chromedp.WaitReady("#tiles")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the page's first calls are held: nothing more will come
	loading, _ := chromedp.Run(tab, chromedp.Evaluate[string](`[$("loading")?.textContent, $("relay").textContent, $("events").textContent, $("report").textContent, document.querySelectorAll("#tiles .ghost").length].join(" | ")`))
	if want := "Loading the outbox's state from the sidecar… | Loading… | Loading events… | Loading the report… | 9"; loading != want {
		t.Errorf("before the first answer the page shows %q, want %q", loading, want)
	}
	screenshot(tab, "dashboard-loading.png")

	close(release)
	err := chromedp.Do(tab, chromedp.WaitVisible(`tr[data-id="`+last+`"] .b-delivered`),
		chromedp.Click(`tr[data-id="`+last+`"]`), chromedp.WaitVisible("#detail .attempt"))
	if err != nil {
		t.Fatal(err)
	}
	if gone, _ := chromedp.Run(tab, chromedp.Evaluate[bool](`!$("loading") || $("loading").hidden`)); !gone {
		t.Error("the loading note stays once the page has its answers")
	}
	// Every box that could cut or scroll its content sideways, and the page.
	const overflow = `[...document.querySelectorAll("main, section, .scroll, .tiles, .layout, .detail")]
		.filter(e => e.scrollWidth > e.clientWidth + 1)
		.map(e => (e.id || e.className || e.tagName) + " " + e.scrollWidth + ">" + e.clientWidth)
		.concat(document.documentElement.scrollWidth > innerWidth ? ["page " + document.documentElement.scrollWidth + ">" + innerWidth] : [])
		.join(", ")`
	cut, err := chromedp.Run(tab, chromedp.Evaluate[string](overflow))
	if err != nil || cut != "" {
		t.Errorf("at 1280 px these are wider than their box: %s %v", cut, err)
	}
	width, _ := chromedp.Run(tab, chromedp.Evaluate[int](`innerWidth`))
	if width != 1280 {
		t.Errorf("the window is %d px wide, not 1280", width)
	}
	full, _ := chromedp.Run(tab, chromedp.Evaluate[string](`$("events").querySelector("td.clip").title`))
	if !strings.HasPrefix(full, "campaign-spring-2026-affiliate-long-click-identifier-") {
		t.Errorf("a shortened click id keeps the whole one in its title: %q", full)
	}
	screenshot(tab, "dashboard-1280.png")

	// A sidecar that does not answer: the page says so where "Loading" was.
	down, cancelDown := chromedp.NewContext(ctx)
	defer cancelDown()
	down, cancel2 := context.WithTimeout(down, 30*time.Second)
	defer cancel2()
	holdAdminAPI(t, down, nil, true)
	if err := chromedp.Do(down, navigateNoWait(s.admin+"/admin/"), chromedp.WaitReady("#loading.failed")); err != nil {
		t.Fatal(err)
	}
	text, _ := chromedp.Run(down, chromedp.Evaluate[string](`$("loading").textContent + " | " + $("relay").textContent`))
	if !strings.HasPrefix(text, "Cannot reach the sidecar's admin API (") || !strings.HasSuffix(text, " | No answer") {
		t.Errorf("an admin API that does not answer: %q", text)
	}
	screenshot(down, "dashboard-unreachable.png")
}
