package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/client"
)

// sidecar is a stand-in for the sidecar's endpoint: it answers each attempt
// with the next of answers (then 202), and keeps the keys it saw.
type sidecar struct {
	mu      sync.Mutex
	answers []int
	keys    []string
	bodies  []string
	delay   time.Duration // the first attempt is answered this late
}

func (s *sidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.keys)
	s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
	s.bodies = append(s.bodies, string(b))
	status := http.StatusAccepted
	if n < len(s.answers) {
		status = s.answers[n]
	}
	delay := s.delay
	s.mu.Unlock()
	if n == 0 && delay > 0 {
		time.Sleep(delay)
	}
	if r.Header.Get("Authorization") != "Bearer ingest" {
		status = http.StatusUnauthorized
	}
	w.Header().Set("Retry-After", "0")
	w.WriteHeader(status)
	if status == http.StatusAccepted {
		io.WriteString(w, `{"status":"queued","event_id":"ev-1"}`)
		return
	}
	io.WriteString(w, `{"error":"no"}`)
}

func (s *sidecar) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

func newClient(t *testing.T, url string, opts client.Options) *client.Client {
	t.Helper()
	opts.URL, opts.IngestToken = url, "ingest"
	if opts.FirstBackoff == 0 {
		opts.FirstBackoff, opts.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	}
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var order = client.Conversion{ClickID: "click-1", Email: "pat@example.com", ConversionID: "1001"}

func TestA503AndATimeoutAreRetriedWithTheSameKeyUntilAcknowledged(t *testing.T) {
	s := &sidecar{answers: []int{202, 503, 503}, delay: 300 * time.Millisecond} // the first answered too late (a timeout), then two 503s
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newClient(t, srv.URL, client.Options{HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	a, err := c.Track(context.Background(), order)
	if err != nil || a.EventID != "ev-1" {
		t.Fatalf("Track: %v %v", a, err)
	}
	keys := s.seen()
	if len(keys) != 4 {
		t.Fatalf("%d attempts (%v), want 4: a timeout, a 503 and a 503 retried", len(keys), keys)
	}
	for _, k := range keys {
		if k != "1001" {
			t.Errorf("an attempt with key %q, want the order id each time", k)
		}
	}
}

func TestAConnectionRefusedIsRetriedUntilTheSidecarIsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the sidecar restarting: nothing listens
	s := &sidecar{}
	go func() {
		time.Sleep(400 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		srv := &http.Server{Handler: s}
		t.Cleanup(func() { srv.Close() })
		srv.Serve(ln)
	}()
	c := newClient(t, "http://"+addr, client.Options{})
	if _, err := c.Track(context.Background(), order); err != nil {
		t.Fatalf("Track across a restart: %v", err)
	}
	if keys := s.seen(); len(keys) != 1 || keys[0] != "1001" {
		t.Errorf("the sidecar saw %v", keys)
	}
}

func TestA4xxIsNotRetriedAndNotKeptForReplay(t *testing.T) {
	s := &sidecar{answers: []int{400}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	var kept bytes.Buffer
	c := newClient(t, srv.URL, client.Options{NotTracked: &kept})
	_, err := c.Track(context.Background(), order)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(err.Error(), "sidecar answered 400") {
		t.Fatalf("Track: %v", err)
	}
	if n := len(s.seen()); n != 1 || kept.Len() != 0 {
		t.Errorf("%d attempts, %q kept: a 400 would fail again", n, kept.String())
	}
}

// TestAConversionGivenUpIsKeptAsALineThatReplays: the sidecar stays down
// past RetryFor; the conversion is written as one JSON line, and Replay
// sends it, with its key, once the sidecar is back.
func TestAConversionGivenUpIsKeptAsALineThatReplays(t *testing.T) {
	var attempts atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	var kept bytes.Buffer
	c := newClient(t, down.URL, client.Options{NotTracked: &kept, RetryFor: 300 * time.Millisecond})
	began := time.Now()
	_, err := c.Track(context.Background(), order)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 503 || !e.NotTracked {
		t.Fatalf("Track: %v", err)
	}
	if took := time.Since(began); took < 200*time.Millisecond || attempts.Load() < 3 {
		t.Errorf("gave up after %s and %d attempts: want retries for RetryFor", took, attempts.Load())
	}
	var line client.NotTracked
	if err := json.Unmarshal(kept.Bytes(), &line); err != nil || line.IdempotencyKey != "1001" || line.Body != order || !strings.HasSuffix(kept.String(), "}\n") {
		t.Fatalf("kept %q: %v", kept.String(), err)
	}

	s := &sidecar{}
	up := httptest.NewServer(s)
	defer up.Close()
	n, err := newClient(t, up.URL, client.Options{}).Replay(context.Background(), &kept)
	if err != nil || n != 1 {
		t.Fatalf("Replay: %d %v", n, err)
	}
	if keys := s.seen(); len(keys) != 1 || keys[0] != "1001" || !strings.Contains(s.bodies[0], `"glpClickId":"click-1"`) {
		t.Errorf("replayed %v %v", keys, s.bodies)
	}
}

func TestAConversionWithoutAnOrderIdIsRefusedBeforeItIsSent(t *testing.T) {
	s := &sidecar{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newClient(t, srv.URL, client.Options{})
	for _, id := range []string{"", "  "} {
		if _, err := c.Track(context.Background(), client.Conversion{Email: "pat@example.com", ConversionID: id}); !errors.Is(err, client.ErrNoConversionID) {
			t.Errorf("order id %q: %v, want ErrNoConversionID", id, err)
		}
	}
	for _, id := range []string{"1\r\nX-Injected: yes", "order 1", strings.Repeat("9", 257)} {
		if _, err := c.Track(context.Background(), client.Conversion{Email: "pat@example.com", ConversionID: id}); !errors.Is(err, client.ErrBadConversionID) {
			t.Errorf("order id %q: %v, want ErrBadConversionID", id, err)
		}
	}
	if n := len(s.seen()); n != 0 {
		t.Errorf("%d sent", n)
	}
}

func TestTheDefaultRetriesLastAtLeastThirtySeconds(t *testing.T) {
	if client.DefaultRetryFor < client.MinRetryFor || client.MinRetryFor < 30*time.Second {
		t.Errorf("DefaultRetryFor %s: SPEC asks 30 s at least", client.DefaultRetryFor)
	}
}
