package relay_test

import (
	"context"
	"sync"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/relay"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// stallingStore is the outbox, as a process that stalls right after its
// first claim sees it: the clock (the relay's and the outbox's) jumps by
// stall once that claim returns, and every release is kept.
type stallingStore struct {
	*sqlite.Store
	clk   *fastClock
	stall time.Duration

	mu       sync.Mutex
	claims   []sidecar.Event
	releases []sidecar.Lease
}

func (s *stallingStore) Claim(ctx context.Context, n int, lease time.Duration) ([]sidecar.Event, error) {
	evs, err := s.Store.Claim(ctx, n, lease)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(evs) > 0 && len(s.claims) == 0 {
		s.clk.jump(s.stall)
	}
	s.claims = append(s.claims, evs...)
	return evs, err
}

func (s *stallingStore) Release(ctx context.Context, leases ...sidecar.Lease) error {
	s.mu.Lock()
	s.releases = append(s.releases, leases...)
	s.mu.Unlock()
	return s.Store.Release(ctx, leases...)
}

// A worker that gets its event with less than a request's time (and the
// margin) left on its lease does not send it: it gives it back, naming its
// lease, and the event goes out once, under a fresh claim. Without the
// check it would be sent with its lease about to run out, while another
// sidecar could claim it and send it too.
func TestAWorkerWithTooLittleLeaseLeftGivesTheEventBackUnsent(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, time.Now)
	clk := newWallClock()
	box, err := sqlite.Open(sqlite.Options{Path: t.TempDir() + "/outbox.db", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	const lease, timeout = 20 * time.Second, 5 * time.Second
	store := &stallingStore{Store: box, clk: clk, stall: lease - timeout} // a request's time left, not its margin too
	r, err := relay.New(relay.WithHooks(relay.Options{Store: store, BaseURL: u.URL, ProviderID: 123, Token: token, Workers: 1,
		RequestTimeout: timeout, RetryInitial: 10 * time.Millisecond, RetryMaxInterval: 50 * time.Millisecond, RetryMaxAge: time.Hour},
		relay.Hooks{Clock: clk, Lease: lease}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- r.Run(ctx) }()
	h := &harness{box: box, relay: r, up: u}
	id := h.add(t, sidecar.Conversion{ClickID: "stalled", ConversionID: "order-1"})
	e, attempts := h.await(t, id)
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if calls := len(u.callTimes()); calls != 1 {
		t.Errorf("the upstream was called %d times; want once, under the second claim", calls)
	}
	if e.State != sidecar.StateDelivered || len(attempts) != 1 || e.Attempts != 1 || e.Landed != 0 {
		t.Errorf("%s, %d attempt rows, %d counted, %d that may have landed; want delivered at one attempt, the given-back claim uncounted",
			e.State, len(attempts), e.Attempts, e.Landed)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.claims) != 2 || len(store.releases) != 1 || store.releases[0] != store.claims[0].Lease() {
		t.Errorf("claims %d, releases %+v; want the first claim given back naming its lease (%v)", len(store.claims), store.releases, store.claims[0].LeaseUntil)
	}
}
