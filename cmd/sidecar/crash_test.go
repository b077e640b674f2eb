package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/mockglp"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

func TestAcknowledgedEventsReachTheUpstreamExactlyOnceThroughSIGKILLs(t *testing.T) {
	t.Parallel()
	skipIfShort(t, "the crash test")
	mock, err := mockglp.New(mockglp.Options{Providers: map[string]int64{"test-token": 123}})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(mock)
	defer up.Close()
	mock.SetFault(mockglp.Fault{Delay: mockglp.Duration(40 * time.Millisecond), Count: -1}) // deliveries in flight when the kill comes

	db := filepath.Join(t.TempDir(), "outbox.db")
	env := serveEnv(t, "GLP_API_URL="+up.URL, "GLP_DB_PATH="+db, "GLP_REQUEST_TIMEOUT=1s",
		"GLP_RETRY_INITIAL=50ms", "GLP_RETRY_MAX_INTERVAL=500ms", "GLP_LOG_LEVEL=warn")
	acked := map[string]string{} // click id → event id
	var mu sync.Mutex
	for round := 0; round < 4; round++ {
		c := start(t, env, "serve")
		base := c.url(t)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					click := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					id, ok := postConversion(base, click)
					if ok {
						mu.Lock()
						acked[click] = id
						mu.Unlock()
					}
				}
			}(w)
		}
		time.Sleep(time.Duration(30+rand.IntN(150)) * time.Millisecond)
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
		wg.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}

	mock.SetFault(mockglp.Fault{})
	c := start(t, env, "serve")
	c.url(t)
	box, err := sqlite.Open(sqlite.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := box.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.States[sidecar.StateQueued] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still queued after a minute: %v", st.States)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()

	for click, id := range acked {
		e, _, err := box.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("acknowledged %s (%s): %v", click, id, err)
		}
		if e.State != sidecar.StateDelivered && e.State != sidecar.StateDuplicate {
			t.Errorf("%s: %s", id, e.State)
		}
	}
	resp, err := http.Get(up.URL + "/_mock/conversions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var convs []struct {
		ClickID string `json:"glp_click_id"`
	}
	json.NewDecoder(resp.Body).Decode(&convs)
	per := map[string]int{}
	for _, cv := range convs {
		per[cv.ClickID]++
	}
	for click := range acked {
		if per[click] != 1 {
			t.Errorf("%s recorded %d times upstream", click, per[click])
		}
	}
	dups := 0
	for _, id := range acked {
		if e, _, _ := box.Get(context.Background(), id); e.State == sidecar.StateDuplicate {
			dups++
		}
	}
	t.Logf("%d acknowledged over 4 SIGKILLs; all recorded upstream once; %d resent after a kill and answered duplicate", len(acked), dups)
}

// postConversion posts one conversion and returns its event id when it was
// acknowledged with 202.
func postConversion(base, click string) (string, bool) {
	req, err := newJSONRequest(base+"/glp-s2s-conversion", "", `{"glpClickId":"`+click+`","conversion_id":"`+click+`"}`)
	if err != nil {
		return "", false
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var body struct {
		EventID string `json:"event_id"`
	}
	if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return "", false
	}
	return body.EventID, true
}
