package relay_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/mockglp"
	"github.com/glpwinner/glp-sidecar/relay"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

const token = "test-token"

// upstream is the real mock behind a handler that counts the conversion
// calls and keeps when (on the relay's clock) each one came.
type upstream struct {
	*httptest.Server
	mock  *mockglp.Server
	now   func() time.Time
	mu    sync.Mutex
	calls []time.Time
	auths []string
}

func newUpstream(t *testing.T, now func() time.Time) *upstream {
	t.Helper()
	m, err := mockglp.New(mockglp.Options{Providers: map[string]int64{token: 123}})
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{mock: m, now: now}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == relay.ConversionPath {
			u.mu.Lock()
			u.calls = append(u.calls, u.now())
			u.auths = append(u.auths, r.Header.Get("Authorization"))
			u.mu.Unlock()
		}
		m.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { u.Close(); m.Close() })
	return u
}

func (u *upstream) fault(f mockglp.Fault) { u.mock.SetFault(f) }

func (u *upstream) callTimes() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.calls...)
}

func (u *upstream) conversions(t *testing.T) []map[string]any {
	resp, err := http.Get(u.URL + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

type harness struct {
	box   *sqlite.Store
	path  string // the outbox file
	relay *relay.Relay
	up    *upstream
	stop  func()
}

// start runs a relay over a real outbox file against u.
func start(t *testing.T, u *upstream, opts relay.Options) *harness {
	t.Helper()
	return startAt(t, u, u.URL, opts, relay.Hooks{})
}

// startAt runs a relay over a real outbox file against base, which stands
// in front of u, with the test hooks set: the outbox reads the same clock.
func startAt(t *testing.T, u *upstream, base string, opts relay.Options, hooks relay.Hooks) *harness {
	t.Helper()
	var now func() time.Time
	if hooks.Clock != nil {
		now = hooks.Clock.Now
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	box, err := sqlite.Open(sqlite.Options{Path: path, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	opts.Store, opts.BaseURL, opts.ProviderID = box, base, 123
	if opts.Token == "" {
		opts.Token = token
	}
	if opts.Token == "-" {
		opts.Token = ""
	}
	if opts.Workers == 0 {
		opts.Workers = 4
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 2 * time.Second
	}
	if opts.RetryInitial == 0 {
		opts.RetryInitial, opts.RetryMaxInterval = 10*time.Millisecond, 100*time.Millisecond
	}
	if opts.RetryMaxAge == 0 {
		opts.RetryMaxAge = time.Hour
	}
	r, err := relay.New(relay.WithHooks(opts, hooks))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- r.Run(ctx) }()
	var once sync.Once
	h := &harness{box: box, path: path, relay: r, up: u}
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-stopped; err != nil {
				t.Errorf("run: %v", err)
			}
			box.Close()
		})
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) add(t *testing.T, c sidecar.Conversion) string {
	t.Helper()
	a, err := h.box.Append(context.Background(), sidecar.NewEvent{Conversion: c})
	if err != nil {
		t.Fatal(err)
	}
	h.relay.Notify()
	return a.ID
}

// await waits for the event to leave the queue and returns it with its attempts.
func (h *harness) await(t *testing.T, id string) (sidecar.Event, []sidecar.Attempt) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		e, at, err := h.box.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.State != sidecar.StateQueued {
			return e, at
		}
		time.Sleep(5 * time.Millisecond)
	}
	e, at, _ := h.box.Get(context.Background(), id)
	t.Fatalf("event %s still queued: %+v, attempts %+v, relay %+v", id, e, at, h.relay.Status())
	return e, at
}

func (h *harness) awaitMode(t *testing.T, mode sidecar.RelayMode) relay.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s := h.relay.Status(); s.Mode == mode {
			return s
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("relay is %+v, want %s", h.relay.Status(), mode)
	return relay.Status{}
}

func TestEveryUpstreamAnswerLeadsToItsState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    mockglp.Fault
		conv     sidecar.Conversion
		state    sidecar.State
		attempts int
		statuses []int
	}{
		{"201 is delivered", mockglp.Fault{}, sidecar.Conversion{ClickID: "c-201"}, sidecar.StateDelivered, 1, []int{201}},
		{"200 duplicate is duplicate", mockglp.Fault{}, sidecar.Conversion{ClickID: "seen"}, sidecar.StateDuplicate, 1, []int{200}},
		{"422 from the rules is rejected, never retried", mockglp.Fault{}, sidecar.Conversion{Email: "nobody@example.com"}, sidecar.StateRejected, 1, []int{422}},
		{"400 is rejected, never retried", mockglp.Fault{Status: 400}, sidecar.Conversion{ClickID: "c-400"}, sidecar.StateRejected, 1, []int{400}},
		{"409 and other 4xx are rejected", mockglp.Fault{Status: 409}, sidecar.Conversion{ClickID: "c-409"}, sidecar.StateRejected, 1, []int{409}},
		{"408 is retried", mockglp.Fault{Status: 408}, sidecar.Conversion{ClickID: "c-408"}, sidecar.StateDelivered, 2, []int{408, 201}},
		{"429 is retried", mockglp.Fault{Status: 429, RetryAfter: "0"}, sidecar.Conversion{ClickID: "c-429"}, sidecar.StateDelivered, 2, []int{429, 201}},
		{"500 is retried", mockglp.Fault{Status: 500}, sidecar.Conversion{ClickID: "c-500"}, sidecar.StateDelivered, 2, []int{500, 201}},
		{"502 twice is retried twice", mockglp.Fault{Status: 502, Count: 2}, sidecar.Conversion{ClickID: "c-502"}, sidecar.StateDelivered, 3, []int{502, 502, 201}},
		{"503 is retried", mockglp.Fault{Status: 503}, sidecar.Conversion{ClickID: "c-503"}, sidecar.StateDelivered, 2, []int{503, 201}},
		{"a connection dropped unanswered is retried", mockglp.Fault{Drop: true}, sidecar.Conversion{ClickID: "c-drop"}, sidecar.StateDelivered, 2, []int{0, 201}},
		{"a timeout is retried", mockglp.Fault{Delay: mockglp.Duration(time.Second)}, sidecar.Conversion{ClickID: "c-slow"}, sidecar.StateDelivered, 2, []int{0, 201}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, time.Now)
			clk := newWallClock()
			h := startAt(t, u, u.URL, relay.Options{RequestTimeout: 300 * time.Millisecond}, relay.Hooks{Clock: clk})
			if tt.state == sidecar.StateDuplicate {
				h.await(t, h.add(t, sidecar.Conversion{ClickID: "seen"}))
			}
			u.fault(tt.fault)
			id := h.add(t, tt.conv)
			e, attempts := h.await(t, id)
			if tt.state == sidecar.StateRejected { // never retried
				e, attempts = h.lookLater(t, clk, id)
			}
			if e.State != tt.state || e.Attempts != tt.attempts || len(attempts) != tt.attempts {
				t.Fatalf("state %s after %d attempts (%d recorded), want %s after %d: %+v", e.State, e.Attempts, len(attempts), tt.state, tt.attempts, attempts)
			}
			for i, want := range tt.statuses {
				if attempts[i].Status != want {
					t.Errorf("attempt %d: status %d, want %d (%s)", i+1, attempts[i].Status, want, attempts[i].Error)
				}
			}
			if tt.state == sidecar.StateDelivered && (e.Upstream.ConversionID == "" || e.Upstream.ClickID != tt.conv.ClickID || e.Upstream.RecordedAt == "") {
				t.Errorf("delivered without the upstream's ids: %+v", e.Upstream)
			}
			if tt.state == sidecar.StateRejected && !strings.Contains(e.LastBody, "error") {
				t.Errorf("a rejection keeps the upstream's answer: %q", e.LastBody)
			}
		})
	}
}

func TestRetryAfterIsHonouredInBothForms(t *testing.T) {
	t.Parallel()
	for _, form := range []string{"seconds", "date"} {
		t.Run(form, func(t *testing.T) {
			u := newUpstream(t, time.Now)
			clk := newFastClock(20) // the relay's and the outbox's: a Retry-After of 2 s passes in 0.1 s
			h := startAt(t, u, u.URL, relay.Options{RetryInitial: 10 * time.Millisecond, RetryMaxInterval: 5 * time.Second},
				relay.Hooks{Lease: time.Hour, Clock: clk})
			ra := "1"
			if form == "date" {
				ra = clk.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
			}
			u.fault(mockglp.Fault{Status: 429, RetryAfter: ra})
			_, attempts := h.await(t, h.add(t, sidecar.Conversion{ClickID: "ra-" + form}))
			if len(attempts) != 2 {
				t.Fatalf("attempts %+v", attempts)
			}
			if gap := attempts[1].StartedAt.Sub(attempts[0].StartedAt); gap < 900*time.Millisecond {
				t.Errorf("retried %v after a Retry-After of %s", gap, ra)
			}
		})
	}
}

func TestARedirectIsNeverFollowedWithTheToken(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(201)
	}))
	defer other.Close()
	u := newUpstream(t, time.Now)
	h := start(t, u, relay.Options{})
	u.fault(mockglp.Fault{Status: 307, Location: other.URL + relay.ConversionPath, Count: 3})
	id := h.add(t, sidecar.Conversion{ClickID: "redir"})
	st := h.awaitMode(t, sidecar.RelayPaused)
	if !strings.Contains(st.Reason, "redirect") || !strings.Contains(st.Reason, "GLP_API_URL") {
		t.Errorf("reason %q", st.Reason)
	}
	e, _ := h.await(t, id) // the fault runs out; a probe delivers
	if e.State != sidecar.StateDelivered {
		t.Errorf("state %s", e.State)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
	h.awaitMode(t, sidecar.RelayRunning)
}

func TestBadCredentialsPauseTheRelayUntilTheyAreAccepted(t *testing.T) {
	t.Parallel()
	t.Run("401 without a token", func(t *testing.T) {
		u := newUpstream(t, time.Now)
		h := start(t, u, relay.Options{Token: "-"})
		h.add(t, sidecar.Conversion{ClickID: "no-token"})
		st := h.awaitMode(t, sidecar.RelayPaused)
		if !strings.Contains(st.Reason, "401") || st.Mode != sidecar.RelayPaused {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("403 an unknown token", func(t *testing.T) {
		u := newUpstream(t, time.Now)
		h := start(t, u, relay.Options{Token: "revoked"})
		h.add(t, sidecar.Conversion{ClickID: "bad-token"})
		if st := h.awaitMode(t, sidecar.RelayPaused); !strings.Contains(st.Reason, "Invalid API token") {
			t.Errorf("reason %q", st.Reason)
		}
	})
	t.Run("403 until the upstream accepts again", func(t *testing.T) {
		u := newUpstream(t, time.Now)
		h := start(t, u, relay.Options{RetryInitial: 20 * time.Millisecond, RetryMaxInterval: 200 * time.Millisecond})
		u.fault(mockglp.Fault{Status: 403, Count: -1})
		var ids []string
		for i := 0; i < 20; i++ {
			ids = append(ids, h.add(t, sidecar.Conversion{ClickID: "paused-" + string(rune('a'+i))}))
		}
		if st := h.awaitMode(t, sidecar.RelayPaused); !strings.Contains(st.Reason, "GLP_API_TOKEN") {
			t.Errorf("status %+v", st)
		}
		before := len(u.callTimes())
		time.Sleep(time.Second)
		probes := len(u.callTimes()) - before
		if probes > 10 {
			t.Errorf("%d calls in a second while paused: want a probe at the backoff pace", probes)
		}
		st, _ := h.box.Stats(context.Background())
		if st.States[sidecar.StateQueued] != 20 || st.States[sidecar.StateRejected]+st.States[sidecar.StateDead] != 0 {
			t.Fatalf("while paused: %v", st.States)
		}
		for _, id := range ids {
			if e, _, _ := h.box.Get(context.Background(), id); e.Attempts != 0 && e.LeaseUntil.IsZero() { // a probe in flight is counted until recorded
				t.Fatalf("a paused probe counted toward the event's attempts: %d", e.Attempts)
			}
		}
		u.fault(mockglp.Fault{})
		for _, id := range ids {
			if e, _ := h.await(t, id); e.State != sidecar.StateDelivered {
				t.Errorf("%s: %s", id, e.State)
			}
		}
		h.awaitMode(t, sidecar.RelayRunning)
		t.Logf("%d probes in one second of pause", probes)
	})
}

func TestTestEventsAreSentInTestMode(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	h := start(t, u, relay.Options{})
	id, _ := h.box.Append(context.Background(), sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: "t-1"}, Test: true})
	h.relay.Notify()
	h.await(t, id.ID)
	if c := u.conversions(t); len(c) != 1 || c[0]["test"] != true {
		t.Errorf("upstream: %v", c)
	}
	if a := u.auths[0]; a != "Bearer "+token {
		t.Errorf("authorization %q", a)
	}
}

func TestWaitReturnsTheOutcome(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	h := start(t, u, relay.Options{})
	id := h.add(t, sidecar.Conversion{ClickID: "w-1"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, ok := h.relay.Wait(ctx, id)
	if !ok || e.State != sidecar.StateDelivered || !strings.Contains(e.LastBody, `"status":"ok"`) {
		t.Errorf("wait: %v %+v", ok, e)
	}
	u.fault(mockglp.Fault{Status: 503, Count: -1})
	id = h.add(t, sidecar.Conversion{ClickID: "w-2"})
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, ok := h.relay.Wait(short, id); ok {
		t.Error("wait returned for an event still retrying")
	}
}

func TestShutdownLetsDeliveriesInFlightFinish(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	h := start(t, u, relay.Options{})
	u.fault(mockglp.Fault{Delay: mockglp.Duration(300 * time.Millisecond)})
	id := h.add(t, sidecar.Conversion{ClickID: "in-flight"})
	for h.relay.Status().InFlight == 0 {
		time.Sleep(time.Millisecond)
	}
	h.stop()
	box, err := sqlite.Open(sqlite.Options{Path: h.path})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	if e, _, _ := box.Get(context.Background(), id); e.State != sidecar.StateDelivered || !e.LeaseUntil.IsZero() {
		t.Errorf("after shutdown: %s, lease %v", e.State, e.LeaseUntil)
	}
}

func TestATokenEchoedEscapedOrAcrossTheCutIsNeverKept(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t+T0ken/abc=ZZ"
	for name, answer := range map[string]func(tok string) (int, string){
		"a JSON escape in the error": func(tok string) (int, string) {
			return 422, `{"error":"Invalid API token: ` + strings.ReplaceAll(tok, "+", `\u002B`) + `"}`
		},
		"the token across the 64 KiB cut": func(tok string) (int, string) {
			return 422, `{"error":"` + strings.Repeat("x", 64<<10-len(`{"error":"`)-6) + tok + `"}`
		},
	} {
		t.Run(name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				status, body := answer(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
				time.Sleep(200 * time.Millisecond) // the waiter below is there first, as a ?wait= caller is
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, body)
			}))
			defer up.Close()
			h := startAt(t, newUpstream(t, time.Now), up.URL, relay.Options{Token: secret}, relay.Hooks{})
			id := h.add(t, sidecar.Conversion{ClickID: "echo-1"})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			handed, ok := h.relay.Wait(ctx, id) // what a ?wait= caller is answered with
			if !ok {
				t.Fatal("no answer came")
			}
			e, attempts := h.await(t, id)
			kept, _ := json.Marshal([]any{handed, e, attempts})
			for _, leak := range []string{secret, secret[:6], `s3cr3t\u002BT0ken`} {
				if strings.Contains(string(kept), leak) {
					t.Fatalf("the token (%q) is kept or handed to a waiter: %s", leak, kept[max(0, len(kept)-400):])
				}
			}
		})
	}
}
