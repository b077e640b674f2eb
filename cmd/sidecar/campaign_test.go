package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// The campaign's size: enough kills to meet every moment of a delivery
// (claim, request written, answer lost, record), small enough for a few
// minutes on two cores.
const (
	campaignRounds     = 52
	campaignWorkers    = 6
	mockKillEvery      = 5  // the mock is SIGKILLed (file store) every few rounds
	softShare          = 5  // one event in softShare is soft-matched by email
	doubleClickShare   = 10 // one soft event in doubleClickShare has two clicks with its email
	campaignDrainLimit = 90 * time.Second
)

// campaignConv is one conversion the load sends until the sidecar
// acknowledges it (202, or 200 duplicate for the same conversion_id after
// an answer lost in a kill).
type campaignConv struct {
	id, body string
	soft     bool
	event    string // the acknowledged event
}

// campaignMock runs sidecar mock on one address and file across kills.
type campaignMock struct {
	t          *testing.T
	addr, db   string
	proc       *child
	kills      int
	sessionErr int
}

func (m *campaignMock) start() {
	m.proc = start(m.t, []string{"GLP_MOCK_LISTEN_ADDR=" + m.addr, "GLP_MOCK_DB_PATH=" + m.db, "GLP_LOG_LEVEL=error"}, "mock")
	m.proc.url(m.t)
}

func (m *campaignMock) kill() {
	m.proc.cmd.Process.Signal(syscall.SIGKILL)
	m.proc.cmd.Wait()
	m.kills++
}

func (m *campaignMock) url() string { return "http://" + m.addr }

// fault sets the mock's fault; a mock being restarted is tried again.
func (m *campaignMock) fault(body string) {
	for i := 0; i < 50; i++ {
		req, _ := newJSONRequest(m.url()+"/_mock/faults", "", body)
		if resp, err := httpClient.Do(req); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.t.Fatalf("cannot set the mock's fault %s", body)
}

// session logs a click with an email through the mock's session service,
// as GLP Winner's browser SDK does on landing.
func (m *campaignMock) session(click, email string) bool {
	req, _ := newJSONRequest(m.url()+"/api/track/v1/session", "", fmt.Sprintf(`{"providerId":123,"glp_click_id":%q,"email":%q}`, click, email))
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusCreated
}

// freeAddr is the mock's address for the whole campaign: it is killed and
// started again on it, so it is taken outside the ephemeral range that
// other tests' listeners draw from meanwhile (see freePort).
func freeAddr(t *testing.T) string {
	return "127.0.0.1:" + freePort(t)
}

// acknowledge posts a conversion once and returns its event id when the
// sidecar acknowledged it.
func acknowledge(client *http.Client, base string, c *campaignConv) bool {
	// A server call, as a backend posts: one whose first try was cut by a
	// kill is answered, when it had been stored, as a duplicate naming the
	// first event (a browser call that repeats its key gets an id of its own).
	req, err := newJSONRequest(base+"/glp-s2s-conversion", testIngestToken, c.body)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		EventID string `json:"event_id"`
	}
	if (resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK) || json.NewDecoder(resp.Body).Decode(&body) != nil || body.EventID == "" {
		return false
	}
	c.event = body.EventID
	return true
}

func TestTheCrashCampaignAccountsForEveryEventExactly(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "the crash campaign (a few minutes)")
	began := time.Now()
	dir := t.TempDir()
	mock := &campaignMock{t: t, addr: freeAddr(t), db: filepath.Join(dir, "mock.db")}
	mock.start()
	db := filepath.Join(dir, "outbox.db")
	env := serveEnv(t, "GLP_API_URL="+mock.url(), "GLP_DB_PATH="+db, "GLP_REQUEST_TIMEOUT=1s", "GLP_RATE_LIMIT=0",
		"GLP_RETRY_INITIAL=50ms", "GLP_RETRY_MAX_INTERVAL=300ms", "GLP_LOG_LEVEL=error")
	client := &http.Client{Timeout: 5 * time.Second}

	var mu sync.Mutex
	var all []*campaignConv
	var pending []*campaignConv // sent, not acknowledged yet: sent again, as a provider's backend would
	next := 0
	newConv := func() *campaignConv {
		mu.Lock()
		defer mu.Unlock()
		if len(pending) > 0 {
			c := pending[len(pending)-1]
			pending = pending[:len(pending)-1]
			return c
		}
		next++
		c := &campaignConv{id: fmt.Sprintf("order-%d", next)}
		if next%softShare == 0 {
			c.soft = true
			email := fmt.Sprintf("patient-%d@example.com", next)
			clicks := 1
			if (next/softShare)%doubleClickShare == 0 {
				clicks = 2
			}
			for i := 0; i < clicks; i++ {
				if !mock.session(fmt.Sprintf("landing-%d-%d", next, i), email) {
					mock.sessionErr++
					c.soft = false // no click logged: sent with a click id instead
				}
			}
			if c.soft {
				c.body = fmt.Sprintf(`{"email":%q,"conversion_id":%q}`, email, c.id)
			}
		}
		if c.body == "" {
			c.body = fmt.Sprintf(`{"glpClickId":"click-%d","conversion_id":%q}`, next, c.id)
		}
		all = append(all, c)
		return c
	}
	kinds := []string{"delay", "lost answers", "503"}
	kills := 0
	for round := 0; round < campaignRounds; round++ {
		switch kinds[round%3] {
		case "delay": // deliveries in flight when the kill comes
			mock.fault(`{"delay":"30ms","count":-1}`)
		case "lost answers":
			mock.fault(`{"drop":true,"after":true,"count":40}`)
		case "503":
			mock.fault(`{"status":503,"count":60}`)
		}
		c := start(t, env, "serve")
		base := c.url(t)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < campaignWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					cv := newConv()
					if !acknowledge(client, base, cv) {
						mu.Lock()
						pending = append(pending, cv)
						mu.Unlock()
						return // the sidecar is gone
					}
				}
			}()
		}
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		if round%mockKillEvery == mockKillEvery-1 {
			mock.kill()
			time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
			mock.start()
			mock.fault(`{"delay":"30ms","count":-1}`)
			time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
		}
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
		kills++
		close(stop)
		wg.Wait()
	}

	// The last run: no faults; what was never acknowledged is sent until it
	// is, and everything drains.
	mock.fault(`{}`)
	c := start(t, env, "serve")
	base := c.url(t)
	for _, cv := range pending {
		for !acknowledge(client, base, cv) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	box, err := sqlite.Open(sqlite.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	deadline := time.Now().Add(campaignDrainLimit)
	for {
		st, err := box.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.States[sidecar.StateQueued] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()

	resp, err := http.Get(mock.url() + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	var held []struct {
		ExternalID string `json:"external_id"`
		Method     string `json:"method"`
	}
	json.NewDecoder(resp.Body).Decode(&held)
	resp.Body.Close()
	heldBy := map[string]int{}
	for _, h := range held {
		heldBy[h.ExternalID]++
	}

	counts := map[string]int{}
	acked := map[string]bool{}
	var problems []string
	problem := func(kind string, cv *campaignConv, e sidecar.Event) {
		counts[kind]++
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf("%s: %s (event %s, soft %v, state %s, held %d, possible double %v, landed %v)",
				kind, cv.id, cv.event, cv.soft, e.State, heldBy[cv.id], e.PossibleDouble, e.MayHaveLanded))
		}
	}
	for _, cv := range all {
		acked[cv.id] = true
		e, _, err := box.Get(context.Background(), cv.event)
		if err != nil {
			problem("lost", cv, e)
			continue
		}
		counts["state "+string(e.State)]++
		if e.PossibleDouble {
			counts["possible double"]++
		}
		if cv.soft {
			counts["soft-matched"]++
		}
		n := heldBy[cv.id]
		switch {
		case e.State == sidecar.StateQueued:
			problem("stuck", cv, e)
		case n == 0:
			problem("lost", cv, e)
		case n > 1 && !e.PossibleDouble:
			problem("recorded twice without possible_double", cv, e)
		case e.State != sidecar.StateDelivered && !(cv.soft && e.State == sidecar.StateUnconfirmed):
			problem("final state not what the mock holds", cv, e)
		}
	}
	for id := range heldBy {
		if !acked[id] {
			counts["recorded though never acknowledged"]++
		}
	}
	var lines []string
	for k, v := range counts {
		lines = append(lines, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(lines)
	t.Logf("crash campaign: %d SIGKILLs of serve, %d of the mock, %d acknowledged (%d held by the mock), in %s: %s",
		kills, mock.kills, len(all), len(held), time.Since(began).Round(time.Second), strings.Join(lines, ", "))
	for _, kind := range []string{"lost", "recorded twice without possible_double", "recorded though never acknowledged", "final state not what the mock holds", "stuck"} {
		if counts[kind] != 0 {
			t.Errorf("%s: %d", kind, counts[kind])
		}
	}
	if kills < 50 || mock.kills < 10 || len(all) == 0 {
		t.Errorf("a campaign too small: %d kills, %d mock kills, %d events", kills, mock.kills, len(all))
	}
	for _, p := range problems {
		t.Log(p)
	}
}
