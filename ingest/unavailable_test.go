package ingest_test

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/ingest"
)

// TestAFullOutboxIsLoggedOnceASecondNotOncePerRequest fills the outbox
// (its page cap) and sends 50 conversions in the same second, then one a
// second later: two ERROR lines, the second counting the refusals it
// stood for; every request was still answered 503.
func TestAFullOutboxIsLoggedOnceASecondNotOncePerRequest(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	e := setup(t, ingest.Options{Now: clock, Logger: logger, RateLimit: 0})
	e.do(t, request{body: `{"glpClickId":"warm"}`})
	if err := e.box.SetMaxPages(1); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := 0; i < 50; i++ {
		r := e.do(t, request{body: `{"glpClickId":"x","session_token":"` + strings.Repeat("s", 250) + `"}`, server: false})
		if r.status == 503 {
			refused++
		}
	}
	if refused < 40 {
		t.Fatalf("only %d of 50 refused: the outbox is not full", refused)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if r := e.do(t, request{body: `{"glpClickId":"y","session_token":"` + strings.Repeat("s", 250) + `"}`}); r.status != 503 {
		t.Fatalf("a second later: %d", r.status)
	}
	got := logs.String()
	if n := strings.Count(got, "conversion not stored"); n != 2 {
		t.Fatalf("%d log lines for %d refusals in two seconds, want 2:\n%s", n, refused+1, got)
	}
	if !strings.Contains(got, "also_refused_since_last_line="+strconv.Itoa(refused-1)) || !strings.Contains(got, "full") {
		t.Errorf("the second line does not count the %d refusals it stands for, or names no full disk:\n%s", refused-1, got)
	}
}
