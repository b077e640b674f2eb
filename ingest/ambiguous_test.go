package ingest_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

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
