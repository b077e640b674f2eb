package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/glpwinner/glp-sidecar/internal/logtest"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The examples under examples/ are run as a provider would run them: each
// against a real sidecar serve and the real mock, over loopback.

// exampleIngestToken is the sidecar's GLP_INGEST_TOKEN in these tests: the
// backend examples send it from their own GLP_INGEST_TOKEN.
const exampleIngestToken = "example-ingest-token-0f3c9a7e51d24b86"

// examplesDir is examples/ from this package's directory.
func examplesDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// needRuntime skips a test whose language runtime is absent, unless CI is
// set: CI must run every example.
func needRuntime(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no %s on this CI machine: .ci/run must install it (%s)", name, install)
	}
	t.Skipf("no %s installed (%s); skipping this example", name, install)
	return ""
}

// freePort is a loopback port nothing listens on, for a program that takes
// its port from PORT. It is taken below Linux's ephemeral range (32768 and
// up), where the listeners on 127.0.0.1:0 of the tests running beside this
// one get theirs: a port of that range, free when asked, could be taken by
// one of them before the program binds it, and the program's readiness
// check would then be answered by another server.
func freePort(t *testing.T) string {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken: try another
		}
		ln.Close()
		return fmt.Sprint(port)
	}
	t.Fatal("no free loopback port in 20000-31999")
	return ""
}

// lockedBuffer collects what several goroutines write: a child's output,
// an in-process sidecar's log.
type lockedBuffer = logtest.Buffer

// runExample starts an example program in dir with env, and waits until
// base answers.
func runExample(t *testing.T, dir, base string, env []string, argv ...string) *lockedBuffer {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"NOT_TRACKED_FILE=" + filepath.Join(t.TempDir(), "not-tracked.jsonl")}, env...) // never in the tree; env may name another
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v never answered at %s: %v; output: %s", argv, base, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logClick logs an affiliate's click at the mock, as GLP Winner does when
// the affiliate's link is followed, so that a conversion for it is direct.
func logClick(t *testing.T, mockURL, click string) {
	t.Helper()
	status, err := httpPost(mockURL+"/api/track/v1/session", "", fmt.Sprintf(`{"providerId":123,"glp_click_id":%q}`, click))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("log click %s at the mock: %d %v", click, status, err)
	}
}

// backendExample is one of examples/'s server programs: it runs behind the
// sidecar's proxy (or, proxied false, captures the click id itself) and
// posts conversions as server calls.
type backendExample struct {
	name, dir, runtime, install string
	proxied                     bool
	// command prepares the example in dir and returns the directory to run
	// it in and its command line.
	command func(t *testing.T, dir string) (string, []string)
}

var backendExamples = []backendExample{
	{name: "node-express", dir: "node-express", runtime: "npm", install: "apt-get install -y nodejs npm", proxied: true,
		command: func(t *testing.T, dir string) (string, []string) {
			return npmCI(t, dir, "server.js"), []string{"node", "server.js"}
		}},
	{name: "php", dir: "php", runtime: "php", install: "apt-get install -y php-cli", proxied: true,
		command: func(t *testing.T, dir string) (string, []string) {
			return dir, []string{"php", "-S", "127.0.0.1:$PORT", "index.php"}
		}},
	{name: "python", dir: "python", runtime: "python3", install: "apt-get install -y python3", proxied: true,
		command: func(t *testing.T, dir string) (string, []string) {
			return dir, []string{"python3", "app.py"}
		}},
	{name: "go", dir: "go", runtime: "go", install: "https://go.dev/dl/", proxied: false,
		command: func(t *testing.T, dir string) (string, []string) {
			bin := filepath.Join(t.TempDir(), "provider-app")
			build := exec.Command("go", "build", "-o", bin, ".")
			build.Dir = dir
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build in examples/go: %v\n%s", err, out)
			}
			return dir, []string{bin}
		}},
}

func TestEveryBackendExampleGetsItsConversionAttributedToItsClickAndReportsA4xx(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "the examples (npm ci, php, python3, go build)")
	mockURL := serveMockInProcess(t)
	for i, ex := range backendExamples {
		t.Run(ex.name, func(t *testing.T) {
			needRuntime(t, ex.runtime, ex.install)
			port := freePort(t)
			appURL := "http://127.0.0.1:" + port
			// always: the mock's record shows that the example sent the email
			// (with its click id, the default sends it no further).
			env := []string{"GLP_API_URL=" + mockURL, "GLP_INGEST_TOKEN=" + exampleIngestToken, "GLP_SEND_PERSONAL_DATA=always"}
			if ex.proxied {
				env = append(env, "GLP_APP_URL="+appURL)
			}
			sc := start(t, serveEnv(t, env...), "serve")
			sidecarURL := sc.url(t)
			dir, argv := ex.command(t, examplesDir(t, ex.dir))
			for i := range argv {
				argv[i] = strings.ReplaceAll(argv[i], "$PORT", port)
			}
			out := runExample(t, dir, appURL, []string{"PORT=" + port, "SIDECAR_URL=" + sidecarURL, "GLP_INGEST_TOKEN=" + exampleIngestToken}, argv...)
			front := appURL // the visitor's way in
			if ex.proxied {
				front = sidecarURL
			}

			click := "ex-" + ex.name
			logClick(t, mockURL, click)
			jar, _ := cookiejar.New(nil)
			visitor := &http.Client{Jar: jar, Timeout: 20 * time.Second}
			page := get200(t, visitor, front+"/?glp_click_id="+click)
			if !strings.Contains(page, "Welcome") {
				t.Fatalf("landing: %q", page)
			}
			order := fmt.Sprint(1001 + i) // a numeric order id, as most apps have
			email := ex.name + "@example.com"
			answer := postForm(t, visitor, front+"/signup", url.Values{"email": {email}, "order": {order}})
			if !strings.HasPrefix(answer, "signed up; conversion queued (event ") {
				t.Fatalf("sign-up answered %q; output: %s", answer, out)
			}
			c := awaitConversion(t, mockURL, click)
			if c["method"] != "direct" || c["external_id"] != order || c["email"] != email {
				t.Errorf("the mock recorded %v: want method direct, external_id %s, email %s", c, order, email)
			}

			answer = postForm(t, visitor, front+"/signup", url.Values{"email": {"not-an-email"}, "order": {fmt.Sprint(2001 + i)}})
			if !strings.Contains(answer, "conversion not tracked: sidecar answered 400") || !strings.Contains(answer, `"email"`) {
				t.Errorf("a 400 was answered to the visitor as %q: want it reported, with the field", answer)
			}
			waitFor(t, func() bool { return strings.Contains(out.String(), "conversion not tracked: sidecar answered 400") })
		})
	}
}

func get200(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	return body200(t, "GET "+u, resp, err)
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) string {
	t.Helper()
	resp, err := c.PostForm(u, form)
	return body200(t, "POST "+u, resp, err)
}

// body200 is the body of a 200 answer; anything else fails the test.
func body200(t *testing.T, what string, resp *http.Response, err error) string {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, b)
	}
	return string(b)
}

// pageErrors collects what a tab reports with console.error and the
// exceptions it throws.
type pageErrors struct{ lockedBuffer }

// newWatchedTab opens a tab whose console errors and exceptions are kept.
func newWatchedTab(ctx context.Context) (context.Context, context.CancelFunc, *pageErrors) {
	pe := &pageErrors{}
	tab, cancel := chromedp.NewContext(ctx, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				for _, a := range e.Args {
					fmt.Fprintf(pe, "%s %s ", a.Value, a.Description)
				}
				fmt.Fprintln(pe)
			}
		case *runtime.EventExceptionThrown:
			fmt.Fprintf(pe, "exception: %s %v\n", e.ExceptionDetails.Text, e.ExceptionDetails.Exception)
		}
	}))
	tab, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
	return tab, func() { cancelTimeout(); cancel() }, pe
}

// landAndSignUp logs the click at the mock, lands on landing with it in a
// new tab, follows the page's #signup link and types email into #email.
func landAndSignUp(t *testing.T, ctx context.Context, mockURL, landing, click, email string) (context.Context, context.CancelFunc, *pageErrors) {
	t.Helper()
	logClick(t, mockURL, click)
	tab, cancel, errs := newWatchedTab(ctx)
	err := chromedp.Do(tab,
		chromedp.Navigate(landing+"?glp_click_id="+click),
		chromedp.WaitVisible("#signup"), chromedp.Click("#signup"),
		chromedp.WaitVisible("#email"), chromedp.SendKeys("#email", email),
	)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return tab, cancel, errs
}

// submitInvalid submits the form with an email the browser would not let
// through, so that the sidecar answers 400.
const submitInvalid = `document.getElementById('email').value = 'not-an-email';
document.getElementById('signup').dispatchEvent(new Event('submit', {cancelable: true}));`

// glpjsSite serves examples/glpjs as a site of its own would, its pages
// pointed at the sidecar (sidecarURL, read at each request); closed when
// the test ends.
func glpjsSite(t *testing.T, sidecarURL func() string) *httptest.Server {
	t.Helper()
	dir := examplesDir(t, "glpjs")
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(bytes.ReplaceAll(b, []byte("https://sidecar.example.com"), []byte(sidecarURL())))
	}))
	t.Cleanup(site.Close)
	return site
}

func TestTheGlpJsExampleOnAnotherOriginGetsItsConversionAttributedAndReportsA4xx(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	mockURL := serveMockInProcess(t)
	var sidecarURL string
	site := glpjsSite(t, func() string { return sidecarURL })
	origin := "http://localhost:" + site.URL[strings.LastIndex(site.URL, ":")+1:] // another site than the sidecar's 127.0.0.1
	sc := start(t, serveEnv(t, "GLP_API_URL="+mockURL, "GLP_ALLOWED_ORIGINS="+origin, "GLP_SEND_PERSONAL_DATA=always", corroborated), "serve")
	sidecarURL = sc.url(t)

	click := "ex-glpjs"
	tab, cancel, errs := landAndSignUp(t, ctx, mockURL, origin+"/index.html", click, "glpjs@example.com")
	defer cancel()
	err := chromedp.Do(tab, chromedp.SendKeys("#order", "3001"), chromedp.Click("#submit"), chromedp.WaitVisible("#result.done"))
	if err != nil {
		t.Fatal(err)
	}
	result, _ := chromedp.Run(tab, chromedp.Text("#result"))
	if !strings.HasPrefix(result, "signed up; conversion queued (event ") || errs.String() != "" {
		t.Fatalf("the page says %q; its errors: %s", result, errs)
	}
	c := awaitConversion(t, mockURL, click)
	if c["method"] != "direct" || c["external_id"] != "3001" || c["email"] != "glpjs@example.com" {
		t.Errorf("the mock recorded %v", c)
	}
	err = chromedp.Do(tab,
		chromedp.Evaluate[chromedp.Void](`document.getElementById('result').className = ''`),
		chromedp.Evaluate[chromedp.Void](submitInvalid), chromedp.WaitVisible("#result.done"),
	)
	if err != nil {
		t.Fatal(err)
	}
	result, _ = chromedp.Run(tab, chromedp.Text("#result"))
	if !strings.Contains(result, "conversion not tracked: sidecar answered 400") || !strings.Contains(errs.String(), "sidecar answered 400") {
		t.Errorf("a 400: the page says %q, the console %q: want it reported in both", result, errs)
	}
}

func TestTheGuidesHybridExampleBehindTheSidecarGetsItsConversionAttributedAndReportsA4xx(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	mockURL := serveMockInProcess(t)
	app := httptest.NewServer(http.FileServer(http.Dir(examplesDir(t, "hybrid"))))
	defer app.Close()
	sc := start(t, serveEnv(t, "GLP_API_URL="+mockURL, "GLP_APP_URL="+app.URL, "GLP_SEND_PERSONAL_DATA=always", corroborated), "serve")
	front := sc.url(t)

	hybridSignUp(t, ctx, mockURL, front, "ex-hybrid", "hybrid@example.com")
}

// hybridSignUp goes through the guide's hybrid page (examples/hybrid) on
// front: the conversion must reach the mock direct for the click, and a
// 400 must be reported on the console.
func hybridSignUp(t *testing.T, ctx context.Context, mockURL, front, click, email string) {
	t.Helper()
	tab, cancel, errs := landAndSignUp(t, ctx, mockURL, front+"/", click, email)
	defer cancel()
	if cookie, _ := chromedp.Run(tab, chromedp.Evaluate[string]("document.cookie")); !strings.Contains(cookie, "_glp_cid="+click) {
		t.Errorf("after landing, document.cookie is %q: want the click id in _glp_cid, set by the server", cookie)
	}
	err := chromedp.Do(tab, chromedp.Click("#submit"), chromedp.WaitVisible("#confirmed"))
	if err != nil {
		t.Fatal(err)
	}
	if errs.String() != "" {
		t.Errorf("the pages reported errors: %s", errs)
	}
	c := awaitConversion(t, mockURL, click)
	if c["method"] != "direct" || c["email"] != email {
		t.Errorf("the mock recorded %v", c)
	}
	err = chromedp.Do(tab,
		chromedp.Navigate(front+"/signup.html"), chromedp.WaitVisible("#email"),
		chromedp.Evaluate[chromedp.Void](submitInvalid), chromedp.WaitVisible("#confirmed"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errs.String(), "Internal API error for S2S conversion") || !strings.Contains(errs.String(), "400") {
		t.Errorf("a 400 was not reported on the console: %q", errs)
	}
}

// TestTheNextJSExampleKeepsTheClickIdAndForwardsTheConversion builds the
// Next.js example (npm ci, next build: about half a minute) with the
// hybrid page in its public/, and signs up through its rewrite.
func TestTheNextJSExampleKeepsTheClickIdAndForwardsTheConversion(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	needRuntime(t, "npm", "apt-get install -y nodejs npm")
	mockURL := serveMockInProcess(t)
	// Next.js reaches the sidecar from this host: its X-Forwarded-For and -Host are believed.
	sc := start(t, serveEnv(t, "GLP_API_URL="+mockURL, "GLP_TRUSTED_PROXIES=127.0.0.1/32", "GLP_SEND_PERSONAL_DATA=always", corroborated), "serve")
	sidecarURL := sc.url(t)

	work := t.TempDir()
	if err := os.CopyFS(work, os.DirFS(examplesDir(t, "nextjs"))); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(work, "public"), 0o755)
	page, err := os.ReadFile(filepath.Join(examplesDir(t, "hybrid"), "signup.html"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "public", "signup.html"), page, 0o644)
	env := []string{"SIDECAR_URL=" + sidecarURL, "NEXT_TELEMETRY_DISABLED=1"}
	for _, argv := range [][]string{{"npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"}, {"node_modules/.bin/next", "build"}} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	port := freePort(t)
	front := "http://127.0.0.1:" + port
	runExample(t, work, front, env, "node_modules/.bin/next", "start", "-H", "127.0.0.1", "-p", port)
	hybridSignUp(t, ctx, mockURL, front, "ex-nextjs", "nextjs@example.com")
}

// npmCI copies a Node example's package files and the named files from dir
// into a temporary directory, runs npm ci there (node_modules never lands
// in the tree) and returns it.
func npmCI(t *testing.T, dir string, files ...string) string {
	t.Helper()
	work := t.TempDir()
	for _, f := range append([]string{"package.json", "package-lock.json"}, files...) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(work, f), b, 0o600)
	}
	npm := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	npm.Dir = work
	if out, err := npm.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return work
}
