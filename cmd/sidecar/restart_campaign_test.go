package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/client"
)

// The restart campaign: an app behind the sidecar (GLP_APP_URL),
// visitors landing and signing up through the sidecar, and the sidecar
// restarted under that load: 5 times the way Compose does (SIGTERM, the
// process exits, a new one starts on the same address a moment later) and
// 5 times through sockets passed as systemd does. Once with the old
// examples' client (one attempt; anything but 202/200 is "not tracked")
// and once with the client package. Every sign-up's conversion must reach
// the mock exactly once with the client package, and no page request may
// be refused in the socket runs.
const (
	campaignRestarts   = 5                      // of each kind
	campaignVisitors   = 4                      // signing up at once
	campaignLoadSpell  = 400 * time.Millisecond // of load before each restart
	composeGap         = 300 * time.Millisecond // between the old process's exit and the new one's start
	campaignSignupWait = time.Second            // the app's wait for the sidecar's answer (3 s in the examples)
)

// poster posts one sign-up's conversion from the app: the old examples'
// way or the client package's.
type poster func(ctx context.Context, conv client.Conversion) error

// oldPoster is the examples as they were before they retried: one attempt.
func oldPoster(sidecarURL string) poster {
	hc := &http.Client{Timeout: 5 * time.Second}
	return func(ctx context.Context, conv client.Conversion) error {
		body, _ := json.Marshal(conv)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sidecarURL+"/glp-s2s-conversion", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testIngestToken)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("sidecar answered %d", resp.StatusCode)
		}
		return nil
	}
}

// newPoster is the client package, as examples/go uses it.
func newPoster(t *testing.T, sidecarURL string, kept io.Writer) poster {
	c, err := client.New(client.Options{URL: sidecarURL, IngestToken: testIngestToken, NotTracked: kept})
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, conv client.Conversion) error {
		_, err := c.Track(ctx, conv)
		return err
	}
}

// campaignApp is the provider's app: a page, and a sign-up that posts the
// conversion with the click id from the sidecar's cookie.
func campaignApp(post func() poster, notTracked *atomic.Int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<h1>Welcome</h1>")
	})
	mux.HandleFunc("POST /signup", func(w http.ResponseWriter, r *http.Request) {
		conv := client.Conversion{Email: r.FormValue("email"), ConversionID: r.FormValue("order")}
		if c, err := r.Cookie("_glp_cid"); err == nil {
			conv.ClickID = c.Value
		}
		// As examples/go does: the visitor waits for the sidecar's answer
		// for a while, then the retries go on in the background.
		done := make(chan error, 1)
		p := post()
		go func() {
			err := p(context.Background(), conv)
			if err != nil {
				notTracked.Add(1)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintf(w, "signed up; conversion not tracked: %v", err)
				return
			}
			fmt.Fprint(w, "signed up; conversion queued")
		case <-time.After(campaignSignupWait):
			fmt.Fprint(w, "signed up; conversion pending")
		}
	})
	return mux
}

// campaignTally is one run's count.
type campaignTally struct {
	signups, restarts, delivered, lost, doubled int
	notTracked                                  int64
	refused                                     int64 // visitor requests that found no listener
	reset                                       int64 // visitor requests cut on a kept-alive connection the old process closed
}

func (c campaignTally) String() string {
	return fmt.Sprintf("%d sign-ups, %d restarts, %d delivered, %d lost, %d doubled (%d reported not tracked by the app); visitor requests: %d refused, %d cut on a kept-alive connection",
		c.signups, c.restarts, c.delivered, c.lost, c.doubled, c.notTracked, c.refused, c.reset)
}

// runCampaign drives visitors through the sidecar while restart restarts
// it campaignRestarts times, then counts what reached the mock.
func runCampaign(t *testing.T, mockURL, kind, front string, restart func()) campaignTally {
	var tally campaignTally
	var mu sync.Mutex
	var orders []string
	var next atomic.Int64
	var refused, reset atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for v := range campaignVisitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := next.Add(1)
				order := fmt.Sprintf("%s-%d", kind, n)
				jar, _ := cookiejar.New(nil)
				visitor := &http.Client{Jar: jar, Timeout: 90 * time.Second}
				// A visitor whose request finds no sidecar reloads the page.
				for !visit(visitor, http.MethodGet, front+"/?glp_click_id="+order, nil, &refused, &reset) {
					time.Sleep(50 * time.Millisecond)
				}
				form := url.Values{"email": {fmt.Sprintf("v%d-%d@example.com", v, n)}, "order": {order}}
				for !visit(visitor, http.MethodPost, front+"/signup", form, &refused, &reset) {
					time.Sleep(50 * time.Millisecond)
				}
				mu.Lock()
				orders = append(orders, order)
				mu.Unlock()
			}
		}()
	}
	for range campaignRestarts {
		time.Sleep(campaignLoadSpell)
		restart()
		tally.restarts++
	}
	time.Sleep(campaignLoadSpell)
	close(stop)
	wg.Wait()

	tally.signups = len(orders)
	tally.refused, tally.reset = refused.Load(), reset.Load()
	deadline := time.Now().Add(20 * time.Second)
	for {
		held := mockHeld(t, mockURL)
		tally.delivered, tally.lost, tally.doubled = 0, 0, 0
		for _, o := range orders {
			switch n := held[o]; {
			case n == 0:
				tally.lost++
			case n == 1:
				tally.delivered++
			default:
				tally.doubled++
			}
		}
		if tally.lost == 0 || time.Now().After(deadline) {
			return tally
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// visit makes one visitor request and reports whether it was answered
// 200; a request that found no listener is counted in refused, one cut
// otherwise in reset: a request written on a kept-alive connection just
// as the stopping process closed it (a GET is sent again by net/http
// itself, as browsers do for every method; a POST is not).
func visit(c *http.Client, method, u string, form url.Values, refused, reset *atomic.Int64) bool {
	var resp *http.Response
	var err error
	if method == http.MethodGet {
		resp, err = c.Get(u)
	} else {
		resp, err = c.PostForm(u, form)
	}
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			refused.Add(1)
		} else {
			reset.Add(1)
		}
		return false
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func TestTheRestartCampaignLosesNoSignUpsConversion(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the restart campaign takes about a minute")
	}
	began := time.Now()
	mockURL := serveMockInProcess(t)
	results := map[string]campaignTally{}
	for _, kind := range []string{"old", "new"} {
		var notTracked atomic.Int64
		var kept lockedBuffer
		var current atomic.Pointer[poster]
		app := httptest.NewServer(campaignApp(func() poster { return *current.Load() }, &notTracked))
		defer app.Close()
		db := filepath.Join(t.TempDir(), "outbox.db")

		// Compose: the same address each time, nothing listening between.
		addr := "127.0.0.1:" + freePort(t)
		env := serveEnv(t, "GLP_API_URL="+mockURL, "GLP_APP_URL="+app.URL, "GLP_DB_PATH="+db, "GLP_RATE_LIMIT=0",
			"GLP_LISTEN_ADDR="+addr, "GLP_LOG_LEVEL=warn")
		setPoster(t, &current, kind, "http://"+addr, &kept)
		sc := start(t, env, "serve")
		sc.url(t)
		compose := runCampaign(t, mockURL, kind+"-compose", "http://"+addr, func() {
			stopChild(t, sc)
			time.Sleep(composeGap)
			sc = start(t, env, "serve")
			sc.url(t)
		})
		stopChild(t, sc)
		compose.notTracked = notTracked.Swap(0)
		results[kind+" client, Compose restarts"] = compose

		// systemd: the sockets stay open across restarts.
		s := openSockets(t)
		setPoster(t, &current, kind, s.publicURL(), &kept)
		env = serveEnv(t, "GLP_API_URL="+mockURL, "GLP_APP_URL="+app.URL, "GLP_DB_PATH="+db, "GLP_RATE_LIMIT=0", "GLP_LOG_LEVEL=warn")
		pc, _ := s.startPassed(t, env, "public:admin")
		pc.urls(t)
		socket := runCampaign(t, mockURL, kind+"-socket", s.publicURL(), func() {
			stopChild(t, pc)
			pc, _ = s.startPassed(t, env, "public:admin")
			pc.urls(t)
		})
		stopChild(t, pc)
		socket.notTracked = notTracked.Swap(0)
		results[kind+" client, socket-activated restarts"] = socket
	}
	for _, name := range []string{"old client, Compose restarts", "old client, socket-activated restarts", "new client, Compose restarts", "new client, socket-activated restarts"} {
		t.Logf("%s: %s", name, results[name])
	}
	t.Logf("restart campaign took %s", time.Since(began).Round(time.Second))
	for _, name := range []string{"new client, Compose restarts", "new client, socket-activated restarts"} {
		r := results[name]
		if r.lost != 0 || r.doubled != 0 || r.notTracked != 0 || r.signups < 20 || r.restarts != campaignRestarts {
			t.Errorf("%s: %s; want every sign-up's conversion at the mock exactly once", name, r)
		}
	}
	for _, name := range []string{"old client, socket-activated restarts", "new client, socket-activated restarts"} {
		if r := results[name]; r.refused != 0 {
			t.Errorf("%s: %d visitor requests refused; want none through passed sockets", name, r.refused)
		}
	}
}

// setPoster makes the app post with kind's client to sidecarURL.
func setPoster(t *testing.T, current interface{ Store(*poster) }, kind, sidecarURL string, kept io.Writer) {
	p := oldPoster(sidecarURL)
	if kind == "new" {
		p = newPoster(t, sidecarURL, kept)
	}
	current.Store(&p)
}
