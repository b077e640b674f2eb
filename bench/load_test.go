package bench

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// The hand-written client must read every shape of answer net/http's
// server writes, or the bench would count errors that are not there.
func TestTheLoadClientReadsEveryShapeOfAnswerAndKeepsItsConnection(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		switch v["conversion_id"] {
		case "chunked":
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"status":"queued",`)
			w.(http.Flusher).Flush()
			io.WriteString(w, `"event_id":"x"}`)
		case "close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusAccepted)
		case "duplicate":
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `{"status":"duplicate"}`)
		default:
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"status":"queued"}`)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/glp-s2s-conversion")
	c := newClient(u)
	defer c.close()

	for _, tc := range []struct {
		body  string
		want  int
		conns int64 // connections opened so far, after this post
	}{
		{`{"conversion_id":"plain"}`, http.StatusAccepted, 1},
		{`{"conversion_id":"chunked"}`, http.StatusAccepted, 1},
		{`{"conversion_id":"duplicate"}`, http.StatusOK, 1},
		{`not json`, http.StatusBadRequest, 1},
		{`{"conversion_id":"close"}`, http.StatusAccepted, 1},
		{`{"conversion_id":"plain"}`, http.StatusAccepted, 2}, // dialled again after Connection: close
		{`{"conversion_id":"plain"}`, http.StatusAccepted, 2},
	} {
		got, err := c.post([]byte(tc.body))
		if err != nil {
			t.Fatalf("post %s: %v", tc.body, err)
		}
		if got != tc.want {
			t.Errorf("post %s: status %d, want %d", tc.body, got, tc.want)
		}
		if n := conns.Load(); n != tc.conns {
			t.Errorf("after %s: %d connections opened, want %d", tc.body, n, tc.conns)
		}
	}
}

func TestLoadCountsAnswersOtherThan202AsErrorsAndNoAnswerAsZero(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	res := load(context.Background(), srv.URL+"/glp-s2s-conversion", "t", 4, time.Minute, 400)
	if got := res.n + res.errors[http.StatusServiceUnavailable]; got != 400 || res.errors[http.StatusServiceUnavailable] != 100 {
		t.Fatalf("202s %d, 503s %d (errors %v); want 300 and 100", res.n, res.errors[http.StatusServiceUnavailable], res.errors)
	}

	srv.Close() // nobody answers now
	res = load(context.Background(), srv.URL+"/glp-s2s-conversion", "t", 2, time.Minute, 10)
	if res.n != 0 || res.errors[0] != 10 {
		t.Fatalf("against a closed server: %d answered, errors %v; want 0 and 10 without an answer", res.n, res.errors)
	}
}
