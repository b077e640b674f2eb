package bench

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The reference design stores each conversion before its 202, and answers
// 503 without "queued" when the store fails; the ceiling stores nothing.
func TestTheReferenceStoresBeforeItAnswersAndSaysWhenItCannot(t *testing.T) {
	var keys []string
	var payloads []map[string]any
	fail := false
	store := func(key string, payload []byte) error {
		if fail {
			return errors.New("disk full")
		}
		var v map[string]any
		if err := json.Unmarshal(payload, &v); err != nil {
			t.Errorf("payload %q: %v", payload, err)
		}
		keys, payloads = append(keys, key), append(payloads, v)
		return nil
	}
	post := func(h http.Handler) (int, string) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		resp, err := http.Post(srv.URL+"/glp-s2s-conversion", "application/json", strings.NewReader(`{"glpClickId":"c1","conversion_id":"order-1","email":"a@example.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	if status, body := post(Reference(store)); status != http.StatusAccepted || !strings.Contains(body, `"queued"`) {
		t.Errorf("stored: %d %s, want 202 queued", status, body)
	}
	if len(keys) != 1 || keys[0] != "order-1" || payloads[0]["glpClickId"] != "c1" || payloads[0]["email"] != "a@example.com" {
		t.Errorf("store got keys %q payloads %v, want order-1 with the conversion", keys, payloads)
	}
	fail = true
	if status, body := post(Reference(store)); status != http.StatusServiceUnavailable || strings.Contains(body, "queued") {
		t.Errorf("store failed: %d %s, want 503 without queued", status, body)
	}
	if status, _ := post(Ceiling()); status != http.StatusAccepted || len(keys) != 1 {
		t.Errorf("ceiling: %d, %d stored, want 202 and nothing more stored", status, len(keys))
	}
}

func TestCPUPerEventIsTheCPUBetweenTwoMarksOverTheEventsDoneBetweenThem(t *testing.T) {
	a := cpuMark{done: 100, cpu: [2]time.Duration{time.Second, 2 * time.Second}}
	b := cpuMark{done: 10_100, cpu: [2]time.Duration{2 * time.Second, 2500 * time.Millisecond}}
	got := perEvent(a, b)
	if want := [2]time.Duration{100 * time.Microsecond, 50 * time.Microsecond}; got != want {
		t.Errorf("perEvent = %v, want %v", got, want)
	}
	if got := perEvent(b, b); got != [2]time.Duration{} {
		t.Errorf("perEvent with no event done between = %v, want zero, not a division by zero", got)
	}
	// The mock spent 0.4 s between c and d: a few /proc ticks more or less
	// would move its figure by more than the change a drain looks for.
	c := cpuMark{done: 0, cpu: [2]time.Duration{time.Second, time.Second}}
	d := cpuMark{done: 1000, cpu: [2]time.Duration{1500 * time.Millisecond, 1400 * time.Millisecond}}
	if got, want := perEvent(c, d), [2]time.Duration{500 * time.Microsecond, 0}; got != want {
		t.Errorf("perEvent over too little CPU = %v, want %v (zero: not measured)", got, want)
	}
}
