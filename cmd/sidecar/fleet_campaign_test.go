package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/mockglp"
)

// The fleet campaign, run as a Jepsen-style test would: three
// `sidecar serve` on one PostgreSQL, under a load of server calls that
// retry as a client would; each round one sidecar is SIGKILLed and
// restarted, every fifth round PostgreSQL crashes (alternately `pg_ctl stop
// -m immediate` and a SIGKILL of the postmaster) and comes back, the mock
// loses answers, answers 503 or answers late; three times a sidecar is SIGSTOPped
// between its claim and its send, past its lease, and resumed while the others
// send its events (see stall). Then it
// counts:
//   - lost: an acknowledged event not delivered, or not recorded once at the mock;
//   - sent twice at once: two POSTs of one click id in flight at the mock at once;
//   - stored after a 503 that said nothing was stored (a 503 without
//     "stored":"unknown", no answer of that key's in doubt before it):
//     a later retry answered duplicate, or the mock got it anyway;
//   - misreported: an event whose final state the mock disagrees with;
//   - stuck: still queued once the load stopped and the fleet had a minute.
func TestTheFleetCampaignLosesNothingAndNeverSendsAnEventTwiceAtOnce(t *testing.T) {
	skipIfShort(t, "the fleet campaign")
	const rounds, sidecars = 20, 3
	cluster := pgtest.Own(t)
	dbURL := cluster.Database(t)
	up := newCountingUpstream(t)
	f := &fleet{t: t, env: fleetEnv(t, dbURL, up.srv.URL)} // GLP_REQUEST_TIMEOUT=1s: a lease of 7 s
	for i := range sidecars {
		f.restart(i)
	}
	const lease = 7 * time.Second

	keys := &campaignKeys{byKey: map[string]*keyLog{}}
	var stopLoad, pauseLoad atomic.Bool
	var load sync.WaitGroup
	for w := range 6 {
		load.Add(1)
		go func() {
			defer load.Done()
			for i := 0; !stopLoad.Load(); i++ {
				for pauseLoad.Load() {
					time.Sleep(50 * time.Millisecond)
				}
				keys.send(f, fmt.Sprintf("fc-w%d-%d", w, i), w+i)
			}
		}()
	}

	faults := []mockglp.Fault{
		{},
		{Drop: true, After: true, Count: 30}, // answers lost after the mock recorded
		{Status: http.StatusServiceUnavailable, Count: 40},
		{Delay: mockglp.Duration(200 * time.Millisecond), Count: -1},
	}
	pgCrashes := 0
	for r := range rounds {
		up.mock.SetFault(faults[r%len(faults)])
		time.Sleep(600 * time.Millisecond)
		f.kill(r % sidecars)
		f.restart(r % sidecars)
		if r%5 == 4 {
			immediate := pgCrashes%2 == 0
			pgCrashes++
			if err := cluster.Crash(immediate); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			if err := cluster.Restart(); err != nil {
				t.Fatal(err)
			}
		}
		if r == 3 || r == 9 || r == 15 {
			stall(t, f, keys, f.proc((r+1)%sidecars), dbURL, up, &pauseLoad, lease)
		}
	}
	up.mock.SetFault(mockglp.Fault{})
	stopLoad.Store(true)
	load.Wait()

	store := openFleetStore(t, dbURL)
	stuck := -1
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		st, err := store.Stats(context.Background())
		if err == nil {
			stuck = st.States[sidecar.StateQueued]
		}
		if stuck == 0 || time.Now().After(deadline) {
			break
		}
	}

	mock := mockHolds(t, up)
	tally := keys.tally(t, store, mock, up)
	up.mu.Lock()
	tally.overlaps = len(up.overlaps)
	examples := up.overlaps[:min(5, len(up.overlaps))]
	up.mu.Unlock()
	tally.stuck = stuck
	t.Logf("fleet campaign, %d rounds (%d PostgreSQL crashes, 3 SIGSTOPs past the lease): %s", rounds, pgCrashes, tally)
	if tally.acked == 0 {
		t.Fatal("nothing was acknowledged")
	}
	if tally.lost > 0 {
		t.Errorf("%d acknowledged events lost", tally.lost)
	}
	if tally.overlaps > 0 {
		t.Errorf("%d POSTs of one event in flight at once (two senders), e.g. %v", tally.overlaps, examples)
	}
	if tally.storedAfter503 > 0 {
		t.Errorf("%d events stored after a 503 that said nothing was stored", tally.storedAfter503)
	}
	if tally.misreported > 0 {
		t.Errorf("%d events misreported", tally.misreported)
	}
	if tally.stuck != 0 {
		t.Errorf("%d events still queued a minute after the load", tally.stuck)
	}
}

// stall SIGSTOPs the sidecar between a claim and its send, past the claim's
// lease, and SIGCONTs it while another sidecar sends what it claimed. To
// catch it there: the load pauses and the queue drains; a burst of
// conversions meets slow answers, so that some wait; the events table is
// locked (every write waits) until each relay, its workers answered, waits
// in its next claim; the sidecar is stopped and the table unlocked, so its
// claim is taken while it sleeps. The others drain the rest at full speed;
// then answers slow down, and it wakes, its lease run out, as another
// sidecar takes its event and sends it.
func stall(t *testing.T, f *fleet, keys *campaignKeys, victim *child, dbURL string, up *countingUpstream, pauseLoad *atomic.Bool, lease time.Duration) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	table := "events"
	var glp *string
	if conn.QueryRow(ctx, `SELECT to_regclass('glp.events')::text`).Scan(&glp); glp != nil {
		table = *glp
	}
	queued := func() (n int) {
		conn.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE state = 'queued'`).Scan(&n)
		return n
	}
	pauseLoad.Store(true)
	up.mock.SetFault(mockglp.Fault{})
	for deadline := time.Now().Add(30 * time.Second); queued() > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	slow := mockglp.Fault{Delay: mockglp.Duration(800 * time.Millisecond), Count: -1}
	up.mock.SetFault(slow)
	var burst sync.WaitGroup
	for i := range 60 {
		burst.Add(1)
		go func() { defer burst.Done(); keys.send(f, fmt.Sprintf("fc-stall-%d-%d", time.Now().UnixNano(), i), i) }()
	}
	burst.Wait()
	time.Sleep(300 * time.Millisecond)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+table+" IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // every worker answered: every relay waits in a claim
	victim.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	up.mock.SetFault(mockglp.Fault{})
	tx.Rollback(ctx)
	time.Sleep(lease - 1500*time.Millisecond)
	up.mock.SetFault(slow)
	time.Sleep(time.Until(stopped.Add(lease + 300*time.Millisecond)))
	left := queued()
	victim.cmd.Process.Signal(syscall.SIGCONT)
	asleep := time.Since(stopped)
	time.Sleep(1500 * time.Millisecond)
	pauseLoad.Store(false)
	t.Logf("a sidecar SIGSTOPped for %v (its lease: %v); %d events queued when it woke", asleep.Round(100*time.Millisecond), lease, left)
}

// fleet is the campaign's sidecars, each restarted in its slot.
type fleet struct {
	t     *testing.T
	env   []string
	mu    sync.Mutex
	procs [3]*child
	bases [3]string
}

func (f *fleet) restart(i int) {
	c := start(f.t, f.env, "serve")
	u := c.url(f.t)
	f.mu.Lock()
	f.procs[i], f.bases[i] = c, u
	f.mu.Unlock()
}

func (f *fleet) kill(i int) {
	c := f.proc(i)
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

func (f *fleet) proc(i int) *child {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[i]
}

func (f *fleet) base(n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bases[n%len(f.bases)]
}

// keyLog is what a client was told about one key.
type keyLog struct {
	eventID     string // acknowledged: 202 or 200 duplicate
	inDoubt     bool   // an answer left the write's fate open: no answer, a 500, a 503 saying "stored":"unknown"
	said503     bool   // a 503 said nothing was stored, nothing in doubt before it
	dupAfter503 bool
}

type campaignKeys struct {
	mu    sync.Mutex
	byKey map[string]*keyLog
}

var campaignClient = &http.Client{Timeout: 5 * time.Second}

// send posts one conversion as a server call with its idempotency key,
// retried across the fleet for up to 20 s on 503s and lost answers, as a
// shop's backend would.
func (k *campaignKeys) send(f *fleet, key string, n int) {
	l := &keyLog{}
	k.mu.Lock()
	k.byKey[key] = l
	k.mu.Unlock()
	body := `{"glpClickId":"` + key + `","conversion_id":"` + key + `"}`
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); n++ {
		status, answer, err := postKeyed(f.base(n)+"/glp-s2s-conversion", key, body)
		k.mu.Lock()
		switch {
		case err != nil || status == http.StatusInternalServerError || (status == http.StatusServiceUnavailable && answer.Stored == "unknown"):
			l.inDoubt = true
		case status == http.StatusServiceUnavailable:
			l.said503 = l.said503 || !l.inDoubt
		case status == http.StatusAccepted || status == http.StatusOK:
			l.eventID = answer.EventID
			l.dupAfter503 = status == http.StatusOK && l.said503 && !l.inDoubt
			k.mu.Unlock()
			return
		default:
			l.inDoubt = true // refused for another reason: counted as not acknowledged
		}
		k.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

type keyedAnswer struct {
	EventID string `json:"event_id"`
	Stored  any    `json:"stored"`
}

func postKeyed(url, key, body string) (int, keyedAnswer, error) {
	var a keyedAnswer
	req, err := newJSONRequest(url, testIngestToken, body)
	if err != nil {
		return 0, a, err
	}
	req.Header.Set("Idempotency-Key", key)
	resp, err := campaignClient.Do(req)
	if err != nil {
		return 0, a, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, a, err
	}
	json.Unmarshal(b, &a)
	return resp.StatusCode, a, nil
}

// mockHolds is what the mock holds: each click id's conversion ids.
func mockHolds(t *testing.T, up *countingUpstream) map[string][]string {
	t.Helper()
	resp, err := http.Get(up.srv.URL + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var convs []struct {
		ConversionID string `json:"conversion_id"`
		ClickID      string `json:"glp_click_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&convs); err != nil {
		t.Fatal(err)
	}
	per := map[string][]string{}
	for _, c := range convs {
		per[c.ClickID] = append(per[c.ClickID], c.ConversionID)
	}
	return per
}

type fleetTally struct {
	keys, acked, resent                                        int
	lost, overlaps, storedAfter503, misreported, stuck, events int
}

func (c fleetTally) String() string {
	return fmt.Sprintf("%d keys sent, %d acknowledged, %d events stored, %d sent more than once (one after another); lost %d, sent twice at once %d, stored after a 503 that said nothing was stored %d, misreported %d, stuck %d",
		c.keys, c.acked, c.events, c.resent, c.lost, c.overlaps, c.storedAfter503, c.misreported, c.stuck)
}

// tally checks every key against the outbox and the mock.
func (k *campaignKeys) tally(t *testing.T, store interface {
	Get(context.Context, string) (sidecar.Event, []sidecar.Attempt, error)
	List(context.Context, sidecar.State, string, int) ([]sidecar.Event, error)
}, mock map[string][]string, up *countingUpstream) fleetTally {
	t.Helper()
	var c fleetTally
	k.mu.Lock()
	defer k.mu.Unlock()
	up.mu.Lock()
	defer up.mu.Unlock()
	c.keys = len(k.byKey)
	for key, l := range k.byKey {
		if up.posts[key] > 1 {
			c.resent++
		}
		if l.dupAfter503 || (l.eventID == "" && l.said503 && !l.inDoubt && len(mock[key]) > 0) {
			c.storedAfter503++
			t.Logf("stored after a 503 saying nothing was stored: %s", key)
		}
		if l.eventID == "" {
			continue
		}
		c.acked++
		e, _, err := store.Get(context.Background(), l.eventID)
		if err != nil || e.State != sidecar.StateDelivered || len(mock[key]) != 1 {
			c.lost++
			t.Logf("lost: %s (%s): %s, %d at the mock, %v", key, l.eventID, e.State, len(mock[key]), err)
		}
	}
	// Every event the outbox holds against what the mock holds.
	before := ""
	for {
		page, err := store.List(context.Background(), "", before, sidecar.MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			c.events++
			got := mock[e.Conversion.ClickID]
			switch {
			case e.State == sidecar.StateDelivered && (len(got) != 1 || (e.Upstream.ConversionID != "" && got[0] != e.Upstream.ConversionID)):
				c.misreported++
				t.Logf("misreported: %s delivered as %q, the mock holds %v", e.ID, e.Upstream.ConversionID, got)
			case e.State != sidecar.StateDelivered && e.State != sidecar.StateQueued && len(got) > 0:
				c.misreported++
				t.Logf("misreported: %s %s, the mock holds %v", e.ID, e.State, got)
			}
		}
		if len(page) < sidecar.MaxListLimit {
			break
		}
		before = page[len(page)-1].ID
	}
	return c
}
