package capture_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/capture"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

func openBox(t *testing.T) *sqlite.Store {
	t.Helper()
	box, err := sqlite.Open(sqlite.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	return box
}

// overrideHeaders are the client-address and URL-override headers that
// apps commonly believe.
var overrideHeaders = []string{"X-Real-IP", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP", "X-Original-URL", "X-Rewrite-URL",
	"X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Port", "X-Forwarded-Prefix", "Front-End-Https", "X-Url-Scheme",
	"X-Cluster-Client-IP", "Fastly-Client-IP", "X-Original-Forwarded-For"}

// app is the provider's app: it answers with what it was sent.
func app() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.SetCookie(w, &http.Cookie{Name: "app_session", Value: "s1", Path: "/"})
		w.Header().Set("Content-Type", "application/json")
		saw := map[string]string{
			"method": r.Method, "uri": r.RequestURI, "host": r.Host, "body": string(body),
			"xff": r.Header.Get("X-Forwarded-For"), "xfp": r.Header.Get("X-Forwarded-Proto"), "xfh": r.Header.Get("X-Forwarded-Host"),
			"custom": r.Header.Get("X-Custom"),
		}
		for _, h := range overrideHeaders {
			saw[h] = r.Header.Get(h)
		}
		json.NewEncoder(w).Encode(saw)
	})
}

func TestClickCaptureSetsTheCookieAndLogsTheClick(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name    string
		opts    capture.Options
		method  string
		target  string
		headers map[string]string
		cookie  string // the Set-Cookie wanted; "" for none
	}{
		{"a GET with a click id", capture.Options{}, "GET", "/landing?glp_click_id=aff-123&utm_source=news", nil,
			"_glp_cid=aff-123; Path=/; Max-Age=2592000; SameSite=Lax"},
		{"a HEAD with a click id", capture.Options{}, "HEAD", "/?glp_click_id=aff-head", nil,
			"_glp_cid=aff-head; Path=/; Max-Age=2592000; SameSite=Lax"},
		{"the cookie's name, lifetime and domain are settings", capture.Options{CookieName: "aff", MaxAge: time.Hour, Domain: "example.com", Param: "ref"},
			"GET", "/?ref=r-1", nil, "aff=r-1; Path=/; Domain=example.com; Max-Age=3600; SameSite=Lax"},
		{"Secure when a trusted proxy says HTTPS", capture.Options{Trusted: trusted}, "GET", "/?glp_click_id=s-1",
			map[string]string{"X-Forwarded-Proto": "https"}, "_glp_cid=s-1; Path=/; Max-Age=2592000; Secure; SameSite=Lax"},
		{"not Secure when an untrusted peer says HTTPS", capture.Options{}, "GET", "/?glp_click_id=s-2",
			map[string]string{"X-Forwarded-Proto": "https"}, "_glp_cid=s-2; Path=/; Max-Age=2592000; SameSite=Lax"},
		{"a POST is not captured", capture.Options{}, "POST", "/?glp_click_id=p-1", nil, ""},
		{"no click id", capture.Options{}, "GET", "/?utm_source=x", nil, ""},
		{"an empty click id", capture.Options{}, "GET", "/?glp_click_id=", nil, ""},
		{"a click id with a space", capture.Options{}, "GET", "/?glp_click_id=a%20b", nil, ""},
		{"a click id with a semicolon", capture.Options{}, "GET", "/?glp_click_id=a%3Bb", nil, ""},
		{"a click id that tries header injection", capture.Options{}, "GET", "/?glp_click_id=a%0D%0ASet-Cookie:%20x=y", nil, ""},
		{"a click id of 257 characters", capture.Options{}, "GET", "/?glp_click_id=" + strings.Repeat("c", 257), nil, ""},
		{"a click id with a character live in HTML", capture.Options{}, "GET", "/?glp_click_id=a%3Cb", nil, ""},
		{"a top-level navigation", capture.Options{}, "GET", "/?glp_click_id=nav-1", navigation,
			"_glp_cid=nav-1; Path=/; Max-Age=2592000; SameSite=Lax"},
		{"an image on another site", capture.Options{}, "GET", "/?glp_click_id=img-1",
			map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "cross-site"}, ""},
		{"a frame on another site", capture.Options{}, "GET", "/?glp_click_id=frame-1",
			map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site"}, ""},
		{"a fetch from another site", capture.Options{}, "GET", "/?glp_click_id=fetch-1",
			map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Site": "cross-site"}, ""},
		{"a script tag", capture.Options{}, "GET", "/?glp_click_id=script-1", map[string]string{"Sec-Fetch-Dest": "script"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := openBox(t)
			tt.opts.Recorder = box
			srv := httptest.NewServer(capture.Middleware(tt.opts)(app()))
			defer srv.Close()
			req, _ := http.NewRequest(tt.method, srv.URL+tt.target, nil)
			req.Header.Set("User-Agent", "TestBrowser/1")
			req.Header.Set("Referer", "https://affiliate.example/post")
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var mine []string
			for _, c := range resp.Header.Values("Set-Cookie") {
				if !strings.HasPrefix(c, "app_session=") {
					mine = append(mine, c)
				}
			}
			clicks, _ := box.Clicks(context.Background(), 10)
			if tt.cookie == "" {
				if len(mine) != 0 || len(clicks) != 0 {
					t.Fatalf("cookie %v, clicks %v: want none", mine, clicks)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=3600" {
					t.Errorf("the app's Cache-Control was changed without a click: %q", cc)
				}
				return
			}
			if len(mine) != 1 || mine[0] != tt.cookie {
				t.Fatalf("Set-Cookie %q, want %q", mine, tt.cookie)
			}
			if cc := resp.Header.Values("Cache-Control"); len(cc) != 1 || cc[0] != "private, no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			for h, want := range map[string]string{"CDN-Cache-Control": "no-store", "Surrogate-Control": "no-store", "Expires": "0"} {
				if got := resp.Header.Values(h); len(got) != 1 || got[0] != want {
					t.Errorf("%s %q, want %q", h, got, want)
				}
			}
			if !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), "|"), "app_session=s1") {
				t.Error("the app's own cookie was lost")
			}
			if len(clicks) != 1 || clicks[0].UserAgent != "TestBrowser/1" || clicks[0].Referrer != "https://affiliate.example/post" || clicks[0].IP != "127.0.0.1" {
				t.Errorf("click log %+v", clicks)
			}
			if top := tt.headers["Sec-Fetch-Mode"] == "navigate"; clicks[0].TopLevel != top {
				t.Errorf("top_level %v, want %v", clicks[0].TopLevel, top)
			}
		})
	}
}

// navigation is what a browser sends with a top-level landing.
var navigation = map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-User": "?1"}

func TestTheLastClickWinsAndUTMIsLogged(t *testing.T) {
	box := openBox(t)
	srv := httptest.NewServer(capture.Middleware(capture.Options{Recorder: box})(app()))
	defer srv.Close()
	for _, id := range []string{"first", "second"} {
		req, _ := http.NewRequest("GET", srv.URL+"/p?glp_click_id="+id+"&utm_source=news&utm_campaign=spring", nil)
		for k, v := range navigation {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if c := resp.Cookies(); len(c) == 0 || c[0].Value != id {
			t.Errorf("cookie %v, want %s", c, id)
		}
	}
	clicks, _ := box.Clicks(context.Background(), 10)
	if len(clicks) != 2 || clicks[0].ClickID != "second" || clicks[0].UTM["utm_campaign"] != "spring" || clicks[0].Path != "/p" {
		t.Errorf("clicks %+v", clicks)
	}
	id, ok, err := box.MatchClick(context.Background(), "127.0.0.1", "Go-http-client/1.1", time.Now().Add(-time.Hour))
	if !ok || err != nil || id != "second" {
		t.Errorf("local match: %q %v %v, want the latest click", id, ok, err)
	}
}

// through is the proxy behind click capture, as sidecar serve builds it.
func through(t *testing.T, target string, trusted []netip.Prefix) *httptest.Server {
	t.Helper()
	u, _ := url.Parse(target)
	p, err := capture.NewProxy(capture.ProxyOptions{Target: u, Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(capture.Middleware(capture.Options{Trusted: trusted})(p))
	t.Cleanup(srv.Close)
	return srv
}

func TestTheProxyPassesRequestsThroughUnchanged(t *testing.T) {
	backend := httptest.NewServer(app())
	defer backend.Close()
	front := through(t, backend.URL, nil)
	tests := []struct {
		name, method, path, body string
	}{
		{"encoded characters in the path", "GET", "/a%2Fb/c%20d", ""},
		{"dot segments and double slashes", "GET", "/x/../y//z", ""},
		{"the query as it was", "GET", "/search?q=a%26b&q=c+d&empty=", ""},
		{"a POST body", "POST", "/form", "name=Pat&plan=gold"},
		{"a PUT to the app's own API", "PUT", "/api/items/7", `{"n":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Written by hand, so that no client cleans the path first.
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: shop.example\r\nX-Custom: kept\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", tt.method, tt.path, len(tt.body), tt.body)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]string
			json.NewDecoder(resp.Body).Decode(&got)
			want := map[string]string{"method": tt.method, "uri": tt.path, "host": "shop.example", "body": tt.body, "custom": "kept", "xff": "127.0.0.1", "xfp": "http", "xfh": "shop.example"}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: app saw %q, want %q", k, got[k], v)
				}
			}
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=3600" || len(resp.Cookies()) != 1 {
				t.Errorf("the app's answer was changed: %d %v", resp.StatusCode, resp.Header)
			}
		})
	}
}

func TestForwardedAndOverrideHeadersAreBelievedOnlyFromTrustedProxies(t *testing.T) {
	backend := httptest.NewServer(app())
	defer backend.Close()
	for _, tc := range []struct {
		name             string
		trusted          []netip.Prefix
		xff, xfp, xfh    string
		wantXFF, wantXFP string
	}{
		{"untrusted", nil, "198.51.100.7", "https", "evil.example", "127.0.0.1", "http"},
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, "198.51.100.7", "https", "shop.example", "198.51.100.7, 127.0.0.1", "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			front := through(t, backend.URL, tc.trusted)
			req, _ := http.NewRequest("GET", front.URL+"/", nil)
			req.Header.Set("X-Forwarded-For", tc.xff)
			req.Header.Set("X-Forwarded-Proto", tc.xfp)
			req.Header.Set("X-Forwarded-Host", tc.xfh)
			for _, h := range overrideHeaders {
				req.Header.Set(h, "/admin?as=203.0.113.66")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]string
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if got["xff"] != tc.wantXFF || got["xfp"] != tc.wantXFP {
				t.Errorf("app saw X-Forwarded-For %q, -Proto %q; want %q, %q", got["xff"], got["xfp"], tc.wantXFF, tc.wantXFP)
			}
			for _, h := range overrideHeaders {
				if kept, want := got[h] != "", tc.trusted != nil; kept != want {
					t.Errorf("%s reached the app: %v, want %v", h, kept, want)
				}
			}
		})
	}
}

func TestTheProxyStreamsServerSentEvents(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}))
	defer backend.Close()
	defer close(release)
	front := through(t, backend.URL, nil)
	resp, err := http.Get(front.URL + "/events?glp_click_id=sse-1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(resp.Body).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if l != "data: first\n" {
			t.Errorf("first event %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive before the stream ended: the proxy buffers")
	}
}

func TestTheProxyUpgradesWebSockets(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		msg, _ := rw.ReadString('\n') // echo one line, both ways through the tunnel
		fmt.Fprint(rw, "echo: "+msg)
		rw.Flush()
	}))
	defer backend.Close()
	front := through(t, backend.URL, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "GET /ws?glp_click_id=ws-1 HTTP/1.1\r\nHost: shop.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	fmt.Fprint(conn, "hello\n")
	if got, _ := br.ReadString('\n'); got != "echo: hello\n" {
		t.Errorf("through the tunnel: %q", got)
	}
}

func TestAnAppThatIsDownGivesAPlain502Page(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	front := through(t, "http://"+addr, nil)
	resp, err := http.Get(front.URL + "/pricing")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(b), "not answering") ||
		strings.Contains(string(b), "goroutine") || strings.Contains(string(b), addr) {
		t.Errorf("%d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

func TestGlpJSCarriesTheSettings(t *testing.T) {
	h, err := capture.Script(capture.Options{CookieName: "aff", MaxAge: time.Hour, Param: "ref"}, "/glp-s2s-conversion", "/glp-landing")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/glp.js", nil))
	body := rec.Body.String()
	for _, want := range []string{`COOKIE = "aff"`, `PARAM = "ref"`, `MAX_AGE = 3600`, `"/glp-s2s-conversion"`, "keepalive: true"} {
		if !strings.Contains(body, want) {
			t.Errorf("glp.js lacks %s", want)
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type %q", ct)
	}
}

// FuzzClickID: whatever the query holds, capture sets at most one cookie,
// with a value that is a valid click id equal to the parameter, and no
// header line of its own.
func FuzzClickID(f *testing.F) {
	for _, s := range []string{"glp_click_id=abc", "glp_click_id=a%0d%0aX:1", "glp_click_id=%22q%22", "glp_click_id=a;b", "glp_click_id=%ff", "glp_click_id=x&glp_click_id=y", "a=%zz&glp_click_id=ok"} {
		f.Add(s)
	}
	// One seed for each character the click-id rule excludes.
	for _, c := range " \"',;\\<>&`" {
		f.Add("glp_click_id=a" + url.QueryEscape(string(c)) + "b")
		f.Add("glp_click_id=" + string(c) + "x")
	}
	mw := capture.Middleware(capture.Options{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		mw.ServeHTTP(rec, req)
		set := rec.Header().Values("Set-Cookie")
		want, ok := capture.ClickID(req, capture.DefaultParam)
		if !ok {
			if len(set) != 0 {
				t.Fatalf("an invalid id %q set %q", want, set)
			}
			return
		}
		if len(set) != 1 || strings.ContainsAny(set[0], "\r\n") {
			t.Fatalf("Set-Cookie %q", set)
		}
		c, err := http.ParseSetCookie(set[0])
		if err != nil || c.Value != want || !sidecar.ValidClickID(c.Value) {
			t.Fatalf("cookie %q (%v) does not read back as %q", set[0], err, want)
		}
		if strings.ContainsAny(c.Value, " \"',;\\<>&`") {
			t.Fatalf("cookie %q holds a character that breaks a cookie or is live in HTML", c.Value)
		}
	})
}

// From a trusted proxy, its X-Forwarded-* go on to the app, but an
// underscore spelling of one (the visitor's own words, which a load
// balancer passes through) does not; other custom headers do.
func TestATrustedProxysHeadersPassButTheirUnderscoreTwinsDoNot(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(r.Header)
	}))
	defer backend.Close()
	front := through(t, backend.URL, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	for k, v := range map[string]string{"X-Forwarded-For": "198.51.100.7", "X_Forwarded_For": "203.0.113.66",
		"X-Real_IP": "203.0.113.66", "X-Forwarded-Port": "443", "X_Tenant": "kept"} {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got http.Header
	json.NewDecoder(resp.Body).Decode(&got)
	if got.Get("X-Forwarded-For") != "198.51.100.7, 127.0.0.1" || got.Get("X-Forwarded-Port") != "443" || got.Get("X_tenant") != "kept" {
		t.Errorf("the trusted proxy's headers did not all pass: %v", got)
	}
	for name := range got {
		if n := strings.ToLower(name); n == "x_forwarded_for" || n == "x-real_ip" {
			t.Errorf("the app got %s from a trusted peer: %v", name, got[name])
		}
	}
}
