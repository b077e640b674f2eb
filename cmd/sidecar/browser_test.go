package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium (Debian's package) for a test. Without
// it the test skips, unless CI is set: CI must run it.
func browser(t *testing.T) context.Context {
	t.Helper()
	skipIfShort(t, "Chromium")
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no Chromium on this CI machine: .ci/run must install it (apt-get install -y chromium)")
		}
		t.Skip("no Chromium installed (apt-get install -y chromium); skipping the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now, without a deadline
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// elapse lets ms pass on the tab's clock, Chromium's virtual time: the
// page's timers fire as they would over that time, without waiting for it,
// and the clock stands still while a fetch is out
// (pauseIfNetworkFetchesPending), so that each answer comes in its turn. A
// test of what a page never does, or does every few seconds, lets its time
// pass so rather than sleeping. The clock stays paused after it.
func elapse(t *testing.T, tab context.Context, ms float64) {
	t.Helper()
	expired := chromedp.Events(tab, emulation.VirtualTimeBudgetExpired) // subscribed before the budget is set
	if _, err := chromedp.Call(tab, emulation.SetVirtualTimePolicy, emulation.SetVirtualTimePolicyParams{
		Policy: emulation.VirtualTimePolicyPauseIfNetworkFetchesPending, Budget: &ms}); err != nil {
		t.Fatal(err)
	}
	for _, err := range expired {
		if err != nil {
			t.Fatalf("%v ms of virtual time: %v", ms, err)
		}
		return
	}
}

// signupApp is a provider's small app: a landing page, a pricing page and a
// sign-up form whose script posts the conversion to the sidecar's path on
// its own origin, without naming the click id; and pages that include only
// glp.js from the sidecar.
func signupApp(sidecarURL *atomic.Value) http.Handler {
	page := func(body string) string {
		return `<!doctype html><html><head><meta charset="utf-8"><title>Telehealth</title></head><body>` + body + `</body></html>`
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, page(`<h1>Welcome</h1><a id="pricing" href="/pricing">Pricing</a>`))
	})
	mux.HandleFunc("/pricing", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, page(`<h1>Pricing</h1><a id="signup" href="/signup">Sign up</a>`))
	})
	mux.HandleFunc("/signup", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, page(`<form id="f"><input id="email" type="email"><button id="submit">Sign up</button></form><pre id="result"></pre>
<script>
document.getElementById('f').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const r = await fetch('/api/glp-s2s-conversion', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({email: document.getElementById('email').value, conversionId: 'ORDER-PROXY'})});
  const out = document.getElementById('result');
  out.textContent = r.status + ' ' + JSON.stringify(await r.json());
  out.className = 'done';
});
</script>`))
	})
	mux.HandleFunc("/js-landing", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, page(`<script src="%s/glp.js"></script><h1>Welcome</h1><a id="go" href="/js-signup">Sign up</a>`), sidecarURL.Load())
	})
	mux.HandleFunc("/js-signup", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, page(`<script src="%s/glp.js"></script><form id="f"><input id="email" type="email"><button id="submit">Sign up</button></form><pre id="result"></pre>
<script>
document.getElementById('f').addEventListener('submit', (ev) => {
  ev.preventDefault();
  glp.convert({email: document.getElementById('email').value, conversionId: 'ORDER-JS'}).then((j) => {
    const out = document.getElementById('result');
    out.textContent = j.httpStatus + ' ' + JSON.stringify(j);
    out.className = 'done';
  });
});
</script>`), sidecarURL.Load())
	})
	return mux
}

// awaitConversion polls the mock until it has a conversion for the click.
func awaitConversion(t *testing.T, mockURL, click string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(mockURL + "/_mock/conversions")
		if err == nil {
			var convs []map[string]any
			json.NewDecoder(resp.Body).Decode(&convs)
			resp.Body.Close()
			for _, c := range convs {
				if c["glp_click_id"] == click {
					return c
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the mock never received a conversion for %s", click)
	return nil
}

func TestABrowserSignupIsAttributedToItsClick(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	mockURL := serveMockInProcess(t)
	var sidecarURL atomic.Value
	app := httptest.NewServer(signupApp(&sidecarURL))
	defer app.Close()
	appPort := app.URL[strings.LastIndex(app.URL, ":")+1:]
	appOnOtherSite := "http://localhost:" + appPort // another site than 127.0.0.1: no cookie is shared
	// always: the mock's record shows the email the page sent (with the
	// click id, the default sends it no further).
	sc := start(t, serveEnv(t, "GLP_API_URL="+mockURL, "GLP_APP_URL="+app.URL, "GLP_ALLOWED_ORIGINS="+appOnOtherSite, "GLP_SEND_PERSONAL_DATA=always", corroborated), "serve")
	base := sc.url(t)
	sidecarURL.Store(base)

	t.Run("behind the proxy", func(t *testing.T) {
		tab, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := chromedp.Do(tab,
			chromedp.Navigate(base+"/?glp_click_id=aff-proxy-1&utm_source=newsletter"),
			chromedp.WaitVisible("#pricing"), chromedp.Click("#pricing"),
			chromedp.WaitVisible("#signup"), chromedp.Click("#signup"),
			chromedp.WaitVisible("#email"), chromedp.SendKeys("#email", "pat@example.com"),
			chromedp.Click("#submit"), chromedp.WaitVisible("#result.done"),
		)
		if err != nil {
			t.Fatal(err)
		}
		result, _ := chromedp.Run(tab, chromedp.Text("#result"))
		if !strings.HasPrefix(result, "202 ") || !strings.Contains(result, `"queued"`) {
			t.Errorf("the sign-up page got %q", result)
		}
		cookie, _ := chromedp.Run(tab, chromedp.Evaluate[string]("document.cookie"))
		if !strings.Contains(cookie, "_glp_cid=aff-proxy-1") {
			t.Errorf("document.cookie %q", cookie)
		}
		c := awaitConversion(t, mockURL, "aff-proxy-1")
		if c["email"] != "pat@example.com" || c["external_id"] != "ORDER-PROXY" {
			t.Errorf("upstream conversion %v", c)
		}
	})

	t.Run("a page with only glp.js", func(t *testing.T) {
		tab, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := chromedp.Do(tab,
			chromedp.Navigate(appOnOtherSite+"/js-landing?glp_click_id=aff-js-2"),
			chromedp.WaitVisible("#go"), chromedp.Click("#go"),
			chromedp.WaitVisible("#email"), chromedp.SendKeys("#email", "sam@example.com"),
			chromedp.Click("#submit"), chromedp.WaitVisible("#result.done"),
		)
		if err != nil {
			t.Fatal(err)
		}
		result, _ := chromedp.Run(tab, chromedp.Text("#result"))
		if !strings.HasPrefix(result, "202 ") {
			t.Errorf("glp.convert got %q", result)
		}
		c := awaitConversion(t, mockURL, "aff-js-2")
		if c["email"] != "sam@example.com" || c["external_id"] != "ORDER-JS" {
			t.Errorf("upstream conversion %v", c)
		}
	})
}
