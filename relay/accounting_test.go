package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

// session logs a click through the mock's session service, as GLP
// Winner's browser SDK does on landing.
func (u *upstream) session(t *testing.T, click, email string) {
	t.Helper()
	body := fmt.Sprintf(`{"providerId":123,"glp_click_id":%q,"email":%q}`, click, email)
	resp, err := http.Post(u.URL+"/api/track/v1/session", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("session: %d", resp.StatusCode)
	}
}

// heldThrough counts the conversions the mock holds for the provider's
// conversion id.
func (u *upstream) heldThrough(t *testing.T, conversionID string) int {
	n := 0
	for _, c := range u.conversions(t) {
		if c["external_id"] == conversionID {
			n++
		}
	}
	return n
}

func TestALostAnswerOfAClickIDEndsDeliveredAndIsRecordedOnce(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	h := start(t, u, relay.Options{})
	u.fault(mockglp.Fault{Drop: true, After: true})
	e, attempts := h.await(t, h.add(t, sidecar.Conversion{ClickID: "lost", ConversionID: "order-lost"}))
	if e.State != sidecar.StateDelivered || len(attempts) != 2 || attempts[0].Status != 0 || !attempts[0].MayHaveLanded || !e.MayHaveLanded {
		t.Fatalf("state %s, attempts %+v", e.State, attempts)
	}
	if attempts[1].Status != http.StatusOK {
		t.Errorf("the second attempt was answered %d, want the duplicate that names this event's own conversion", attempts[1].Status)
	}
	convs := u.conversions(t)
	if len(convs) != 1 || convs[0]["glp_click_id"] != "lost" || convs[0]["external_id"] != "order-lost" {
		t.Errorf("upstream: %v", convs)
	}
	if e.Upstream.ConversionID != convs[0]["conversion_id"] || e.PossibleDouble {
		t.Errorf("delivered without GLP Winner's conversion id, or flagged: %+v", e)
	}
}

func TestAClickConvertedBeforeThisEventEndsDuplicate(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	// The first dial is refused: the request is never written, so this
	// attempt cannot have landed and the duplicate that follows is not
	// this event's own conversion.
	var dials atomic.Int32
	dialer := &net.Dialer{Timeout: time.Second}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 2 {
			return nil, errors.New("connection refused (test)")
		}
		return dialer.DialContext(ctx, network, addr)
	}, DisableKeepAlives: true}}
	h := startAt(t, u, u.URL, relay.Options{}, relay.Hooks{Client: client})
	first, _ := h.await(t, h.add(t, sidecar.Conversion{ClickID: "converted", ConversionID: "order-1"}))
	if first.State != sidecar.StateDelivered {
		t.Fatalf("first: %s", first.State)
	}
	e, attempts := h.await(t, h.add(t, sidecar.Conversion{ClickID: "converted", ConversionID: "order-2"}))
	if e.State != sidecar.StateDuplicate || len(attempts) != 2 || attempts[0].MayHaveLanded || e.MayHaveLanded {
		t.Fatalf("state %s, attempts %+v", e.State, attempts)
	}
	if !strings.Contains(attempts[0].Error, "not sent") {
		t.Errorf("the refused dial is not told apart: %q", attempts[0].Error)
	}
	if e.Upstream.ConversionID != first.Upstream.ConversionID {
		t.Errorf("the duplicate does not name the original conversion: %+v", e.Upstream)
	}
}

func TestASoftMatchsLostAnswerNeverEndsRejected(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	clk := newWallClock()
	h := startAt(t, u, u.URL, relay.Options{}, relay.Hooks{Clock: clk})
	u.session(t, "soft-1", "patient@example.com")
	u.fault(mockglp.Fault{Drop: true, After: true})
	id := h.add(t, sidecar.Conversion{Email: "patient@example.com", ConversionID: "order-soft"})
	h.await(t, id)
	e, attempts := h.lookLater(t, clk, id) // it is never retried by itself
	if e.State != sidecar.StateUnconfirmed || len(attempts) != 2 || attempts[1].Status != http.StatusUnprocessableEntity {
		t.Fatalf("state %s, attempts %+v", e.State, attempts)
	}
	if n := u.heldThrough(t, "order-soft"); n != 1 {
		t.Errorf("GLP Winner holds it %d times", n)
	}
	st, _ := h.box.Stats(context.Background())
	if st.States[sidecar.StateUnconfirmed] != 1 || st.States[sidecar.StateRejected] != 0 {
		t.Errorf("counts %v", st.States)
	}
}

func TestTwoMatchingClicksAndALostAnswerAreNeverADoubleUnflagged(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	h := start(t, u, relay.Options{})
	u.session(t, "soft-a", "twice@example.com")
	u.session(t, "soft-b", "twice@example.com")
	u.fault(mockglp.Fault{Drop: true, After: true})
	e, _ := h.await(t, h.add(t, sidecar.Conversion{Email: "twice@example.com", ConversionID: "order-twice"}))
	held := u.heldThrough(t, "order-twice")
	if held > 1 && !e.PossibleDouble {
		t.Fatalf("GLP Winner holds the order %d times and the event (%s) does not say so", held, e.State)
	}
	if held != 2 || e.State != sidecar.StateDelivered || !e.PossibleDouble {
		t.Errorf("held %d times, state %s, possible_double %v: want the mock's rules to record it twice and the event to say so", held, e.State, e.PossibleDouble)
	}
	st, _ := h.box.Stats(context.Background())
	if st.PossibleDouble != 1 {
		t.Errorf("stats count %d possible doubles", st.PossibleDouble)
	}
	// Both answers lost: both clicks converted, and the third attempt is
	// refused. No 201 was ever read, and still it may be held twice.
	u.session(t, "soft-c", "thrice@example.com")
	u.session(t, "soft-d", "thrice@example.com")
	u.fault(mockglp.Fault{Drop: true, After: true, Count: 2})
	e, _ = h.await(t, h.add(t, sidecar.Conversion{Email: "thrice@example.com", ConversionID: "order-thrice"}))
	if held := u.heldThrough(t, "order-thrice"); held != 2 || e.State != sidecar.StateUnconfirmed || !e.PossibleDouble || e.Landed != 2 {
		t.Errorf("two lost answers: held %d times, state %s, possible_double %v, landed %d", held, e.State, e.PossibleDouble, e.Landed)
	}
	// Two lost answers, the second at the retry max age: dead, and flagged.
	h.stop()
	// The first retry's wait (0.5-1.5 s with jitter) is cut to the max age:
	// the second attempt is the last.
	h = start(t, u, relay.Options{RetryInitial: time.Second, RetryMaxInterval: time.Second, RetryMaxAge: 300 * time.Millisecond})
	u.session(t, "soft-e", "late@example.com")
	u.session(t, "soft-f", "late@example.com")
	u.fault(mockglp.Fault{Drop: true, After: true, Count: 2})
	e, _ = h.await(t, h.add(t, sidecar.Conversion{Email: "late@example.com", ConversionID: "order-late"}))
	if held := u.heldThrough(t, "order-late"); held != 2 || e.State != sidecar.StateDead || !e.PossibleDouble {
		t.Errorf("two lost answers, then the max age: held %d times, state %s, possible_double %v", held, e.State, e.PossibleDouble)
	}
	// With a click id the same loss is no double.
	u.fault(mockglp.Fault{Drop: true, After: true})
	e, _ = h.await(t, h.add(t, sidecar.Conversion{ClickID: "direct", ConversionID: "order-direct"}))
	if e.PossibleDouble || u.heldThrough(t, "order-direct") != 1 {
		t.Errorf("a click id's lost answer: flagged %v, held %d", e.PossibleDouble, u.heldThrough(t, "order-direct"))
	}
}

// refusing is the mock behind a firewall that answers 403 to every
// conversion whose body contains one string.
func refusing(t *testing.T, u *upstream, needle string) *httptest.Server {
	var refused atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(needle)) {
			refused.Add(1)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "<html>Request blocked by the web application firewall</html>")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		u.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestOneEventRefusedWith403EndsRejectedAndTheOthersAreDelivered(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	waf := refusing(t, u, "blocked-by-waf")
	clk := newWallClock()
	h := startAt(t, u, waf.URL, relay.Options{RetryInitial: 10 * time.Millisecond, RetryMaxInterval: 50 * time.Millisecond}, relay.Hooks{Clock: clk})
	bad := h.add(t, sidecar.Conversion{ClickID: "blocked-by-waf", ConversionID: "order-waf"})
	// Conversions keep coming, as on a live site, while the refused one is
	// probed and tried again.
	var good []string
	for i := 0; ; i++ {
		if e, _, _ := h.box.Get(context.Background(), bad); e.State != sidecar.StateQueued {
			break
		}
		if i > 400 {
			t.Fatalf("the refused event is still queued after %d others", i)
		}
		good = append(good, h.add(t, sidecar.Conversion{ClickID: fmt.Sprintf("fine-%d", i)}))
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range good {
		if e, _ := h.await(t, id); e.State != sidecar.StateDelivered {
			t.Errorf("%s: %s", id, e.State)
		}
	}
	e, attempts := h.await(t, bad)
	if e.State != sidecar.StateRejected || e.LastStatus != http.StatusForbidden || !strings.Contains(e.LastBody, "firewall") {
		t.Fatalf("the refused event: %s %d %q, attempts %+v", e.State, e.LastStatus, e.LastBody, attempts)
	}
	h.awaitMode(t, sidecar.RelayRunning)
	// Past every retry time an event after it is delivered (lookLater), the
	// refused one is never sent again, and the relay runs on.
	if again, more := h.lookLater(t, clk, bad); again.State != sidecar.StateRejected || len(more) != len(attempts) {
		t.Errorf("the refused event later: %s after %d attempts, want rejected after %d", again.State, len(more), len(attempts))
	}
	if st := h.relay.Status(); st.Mode != sidecar.RelayRunning {
		t.Errorf("relay %+v after the event was rejected", st)
	}
}

func TestAWrongTokenPausesWithProbesRotatingAndCollapsing(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	var mu sync.Mutex
	probed := map[string]int{}
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			ClickID string `json:"transaction_id"`
		}
		json.Unmarshal(body, &p)
		mu.Lock()
		probed[p.ClickID]++
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		u.Config.Handler.ServeHTTP(w, r)
	}))
	defer spy.Close()
	h := startAt(t, u, spy.URL, relay.Options{Token: "revoked", RetryInitial: 5 * time.Millisecond, RetryMaxInterval: 20 * time.Millisecond}, relay.Hooks{})
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, h.add(t, sidecar.Conversion{ClickID: fmt.Sprintf("queued-%d", i)}))
	}
	h.awaitMode(t, sidecar.RelayPaused)
	// Dozens of probes come at this pace within a second or two: wait for
	// 15, four or more of each queued event (10 s at most), not for a
	// fixed time.
	var counts string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		counts = fmt.Sprint(probed)
		spread, total, fewest := len(probed), 0, 0
		for _, n := range probed {
			if total == 0 || n < fewest {
				fewest = n
			}
			total += n
		}
		mu.Unlock()
		if spread == 3 && total >= 15 && fewest >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probes %s: want many, over every queued event", counts)
		}
	}
	st, _ := h.box.Stats(context.Background())
	if st.States[sidecar.StateQueued] != 3 {
		t.Fatalf("with a wrong token every event stays queued: %v", st.States)
	}
	for _, id := range ids {
		e, attempts, _ := h.box.Get(context.Background(), id)
		repeats := 0
		for _, a := range attempts {
			repeats += a.Repeats
		}
		if len(attempts) != 1 || (e.Attempts != 0 && e.LeaseUntil.IsZero()) || repeats < 3 { // a probe in flight is counted until recorded
			t.Errorf("%s: %d attempt rows standing for %d probes, %d counted: want identical probes in one row", id, len(attempts), repeats, e.Attempts)
		}
	}
	t.Logf("probes per event: %s", counts)
}

func TestHalfADayOfABadTokenWritesOneAttemptRow(t *testing.T) {
	// 12 hours in 4.3 s: probes at most a minute apart make up to 720
	// calls; a loaded machine stretches the real waits and makes fewer
	// (254 seen under -race), and 100 folded into one row hold the rule.
	clk := newFastClock(10000)
	u := newUpstream(t, clk.Now)
	h := startAt(t, u, u.URL, relay.Options{Token: "revoked", RetryInitial: time.Second, RetryMaxInterval: 10 * time.Minute, RetryMaxAge: 72 * time.Hour},
		relay.Hooks{Lease: time.Hour, Clock: clk})
	began := clk.Now()
	id := h.add(t, sidecar.Conversion{ClickID: "all-day"})
	clk.until(began.Add(12 * time.Hour))
	calls := len(u.callTimes())
	e, attempts, err := h.box.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	repeats := 0
	for _, a := range attempts {
		repeats += a.Repeats
	}
	if e.State != sidecar.StateQueued || len(attempts) != 1 || repeats < calls-1 || calls < 100 {
		t.Fatalf("after 12 h of a bad token: %s, %d calls, %d attempt rows standing for %d", e.State, calls, len(attempts), repeats)
	}
	t.Logf("12 simulated hours of a bad token: %d probes of one event, %d attempt row", calls, len(attempts))
}

func TestUncountedAttemptRowsOfOneEventAreCapped(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	var n atomic.Int32
	varying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"error":"Forbidden, request %d"}`, n.Add(1)) // every answer differs
	}))
	defer varying.Close()
	h := startAt(t, u, varying.URL, relay.Options{RetryInitial: 5 * time.Millisecond, RetryMaxInterval: 10 * time.Millisecond}, relay.Hooks{})
	id := h.add(t, sidecar.Conversion{ClickID: "capped"})
	for n.Load() < 40 {
		time.Sleep(10 * time.Millisecond)
	}
	h.stop() // every attempt made is recorded
	box, err := sqlite.Open(sqlite.Options{Path: h.path})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	_, attempts, _ := box.Get(context.Background(), id)
	repeats := 0
	for _, a := range attempts {
		repeats += a.Repeats
	}
	if len(attempts) != 10 || repeats != int(n.Load()) || !strings.Contains(attempts[len(attempts)-1].Body, fmt.Sprint(n.Load())) {
		t.Fatalf("%d different answers: %d rows standing for %d, the last %q", n.Load(), len(attempts), repeats, attempts[len(attempts)-1].Body)
	}
}

// leaseCheck is the outbox, checking that every record names the lease of
// the claim its attempt was made under.
type leaseCheck struct {
	*sqlite.Store
	mu      sync.Mutex
	leases  map[string]time.Time // by event: the lease of its last claim
	records int
	wrong   []string
}

func (l *leaseCheck) claimed(evs []sidecar.Event, err error) ([]sidecar.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		l.leases[e.ID] = e.LeaseUntil
	}
	return evs, err
}

func (l *leaseCheck) Claim(ctx context.Context, n int, lease time.Duration) ([]sidecar.Event, error) {
	return l.claimed(l.Store.Claim(ctx, n, lease))
}

func (l *leaseCheck) ClaimProbe(ctx context.Context, lease time.Duration) ([]sidecar.Event, error) {
	return l.claimed(l.Store.ClaimProbe(ctx, lease))
}

func (l *leaseCheck) Record(ctx context.Context, r sidecar.Result) error {
	l.mu.Lock()
	l.records++
	if want := l.leases[r.EventID]; r.LeaseUntil.IsZero() || !r.LeaseUntil.Equal(want) {
		l.wrong = append(l.wrong, fmt.Sprintf("%s recorded under lease %v, claimed until %v", r.EventID, r.LeaseUntil, want))
	}
	l.mu.Unlock()
	return l.Store.Record(ctx, r)
}

// A record that comes after its lease ran out and another claim took the
// event must not end that claim (the stores' contract test holds what a
// late record does); for that, every record names its claim's lease.
func TestEveryRecordNamesTheLeaseOfItsClaim(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	box, err := sqlite.Open(sqlite.Options{Path: t.TempDir() + "/outbox.db"})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	store := &leaseCheck{Store: box, leases: map[string]time.Time{}}
	r, err := relay.New(relay.Options{Store: store, BaseURL: u.URL, ProviderID: 123, Token: token, Workers: 2,
		RequestTimeout: 2 * time.Second, RetryInitial: 10 * time.Millisecond, RetryMaxInterval: 50 * time.Millisecond, RetryMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- r.Run(ctx) }()
	u.fault(mockglp.Fault{Status: http.StatusServiceUnavailable, Count: 2}) // two retries, then a probe, then 201s
	var ids []string
	for i := range 3 {
		a, err := box.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: fmt.Sprintf("lease-%d", i), ConversionID: fmt.Sprintf("order-%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	r.Notify()
	h := &harness{box: box, relay: r, up: u}
	for _, id := range ids {
		h.await(t, id)
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.records < 5 || len(store.wrong) > 0 {
		t.Errorf("%d records; wrong leases: %v", store.records, store.wrong)
	}
}

// A claimed event is sent at once: the relay claims no more than its idle
// workers take. Were it to claim ahead, an event waiting behind a slow
// upstream would run short of its lease and be given back unsent (or,
// without fencing, outlive it, be claimed again and be sent twice), and
// after a crash each event claimed ahead would count as one that may have
// landed.
func TestTheRelayClaimsOnlyWhatItsIdleWorkersSendAtOnce(t *testing.T) {
	u := newUpstream(t, time.Now)
	u.fault(mockglp.Fault{Delay: mockglp.Duration(400 * time.Millisecond), Count: -1})
	h := startAt(t, u, u.URL, relay.Options{Workers: 1, RequestTimeout: 600 * time.Millisecond}, relay.Hooks{Lease: time.Second})
	var ids []string
	for i := range 4 {
		ids = append(ids, h.add(t, sidecar.Conversion{ClickID: fmt.Sprintf("slow-%d", i), ConversionID: fmt.Sprintf("order-%d", i)}))
	}
	for _, id := range ids {
		e, attempts := h.await(t, id)
		if e.State != sidecar.StateDelivered || len(attempts) != 1 || e.Landed != 0 {
			t.Errorf("%s: %s after %d attempts, %d that may have landed; want delivered at the first", id, e.State, len(attempts), e.Landed)
		}
	}
	if calls := len(u.callTimes()); calls != len(ids) {
		t.Errorf("the upstream was called %d times for %d events", calls, len(ids))
	}
}
