package ingest_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/ingest"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// unknownStore is an outbox whose every append lost its commit's answer
// and could not find out in time whether it was stored (postgres.settle).
type unknownStore struct{ *sqlite.Store }

func (unknownStore) Append(context.Context, sidecar.NewEvent) (sidecar.Appended, error) {
	return sidecar.Appended{}, &sidecar.Error{Code: sidecar.EUnavailable, Message: "the outbox cannot store events now: the connection broke after the write was sent",
		Err: errors.Join(sidecar.ErrStoredUnknown, errors.New("unexpected EOF"))}
}

// TestAnAcceptWhoseFateIsUnknownSays503StoredUnknown: when the store cannot
// tell whether the write committed, the 503 says "stored":"unknown" and
// does not claim that nothing was stored.
func TestAnAcceptWhoseFateIsUnknownSays503StoredUnknown(t *testing.T) {
	box, err := sqlite.Open(sqlite.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ingest.New(server(ingest.Options{Store: unknownStore{box}}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); box.Close() })
	r := env{srv, box}.do(t, request{body: `{"glpClickId":"c1","conversion_id":"order-1"}`, server: true})
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("answered %d (Retry-After %q), want 503 with a Retry-After", r.status, r.header.Get("Retry-After"))
	}
	if r.body["stored"] != "unknown" {
		t.Errorf(`body %v: want "stored":"unknown"`, r.body)
	}
	if msg, _ := r.body["error"].(string); strings.Contains(msg, "nothing was stored") || !strings.Contains(msg, "Idempotency-Key") {
		t.Errorf("the message claims nothing was stored, or does not say how to retry: %q", msg)
	}
}

// dataRefusingStore is an outbox whose database refuses every append's
// value as invalid data (postgres: SQLSTATE class 22).
type dataRefusingStore struct{ *sqlite.Store }

func (dataRefusingStore) Append(context.Context, sidecar.NewEvent) (sidecar.Appended, error) {
	return sidecar.Appended{}, &sidecar.Error{Code: sidecar.EInvalid, Message: "The database refused a value of this conversion as invalid data",
		Fields: map[string]string{"body": "a value the database cannot store"}, Err: errors.Join(sidecar.ErrDataRefused, errors.New("SQLSTATE 22021"))}
}

// TestAFloodOfDataErrorsIsAnswered400AndLoggedOnceASecond: 50 values the
// database refuses in one second are each answered 400, and logged in one
// line; a second later, one more line that counts the 49 it stood for.
func TestAFloodOfDataErrorsIsAnswered400AndLoggedOnceASecond(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	box, err := sqlite.Open(sqlite.Options{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ingest.New(server(ingest.Options{Store: dataRefusingStore{box}, Now: clock, Logger: logger}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); box.Close() })
	e := env{srv, box}
	for i := 0; i < 50; i++ {
		if r := e.do(t, request{body: `{"glpClickId":"c1"}`, server: true}); r.status != 400 {
			t.Fatalf("answered %d, want 400", r.status)
		}
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	e.do(t, request{body: `{"glpClickId":"c1"}`, server: true})
	got := logs.String()
	if n := strings.Count(got, "level="); n != 2 || !strings.Contains(got, "also_refused_since_last_line=49") {
		t.Fatalf("%d log lines for 51 data errors in two seconds, want 2, the second counting 49:\n%s", n, got)
	}
}
