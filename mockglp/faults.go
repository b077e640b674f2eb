package mockglp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Fault is what POST /_mock/faults sets: the next Count conversion calls
// answer Status (with Retry-After and Location when given), or wait Delay
// first, or have their connection closed unanswered (Drop; with After, the
// conversion is recorded first, so the answer alone is lost). Count 0 means
// 1; a negative Count lasts until cleared with {}.
type Fault struct {
	Status     int      `json:"status,omitempty"`
	RetryAfter string   `json:"retry_after,omitempty"`
	Location   string   `json:"location,omitempty"`
	Delay      Duration `json:"delay,omitempty"`
	Drop       bool     `json:"drop,omitempty"`
	After      bool     `json:"after,omitempty"`
	Count      int      `json:"count,omitempty"`
}

// Duration is a time.Duration written as "2s" in JSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`delay must be a duration string such as "2s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("delay %q is not a duration such as \"2s\"", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (f Fault) validate() error {
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		return fmt.Errorf("status %d is not an HTTP status", f.Status)
	}
	if f.RetryAfter != "" {
		if _, err := strconv.Atoi(f.RetryAfter); err != nil {
			if _, err := http.ParseTime(f.RetryAfter); err != nil {
				return errors.New("retry_after must be seconds or an HTTP date")
			}
		}
	}
	return nil
}

// faults holds the fault in force and counts the calls it has hit.
type faults struct {
	mu       sync.Mutex
	cur      Fault
	left     int // calls still to hit; <0 without end
	injected int // calls hit since the fault was set
}

func (f *faults) set(v Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur, f.injected = v, 0
	switch {
	case v == (Fault{}):
		f.left = 0
	case v.Count == 0:
		f.left = 1
	default:
		f.left = v.Count
	}
}

// take returns the fault for this call, if one is left, and counts it.
func (f *faults) take() (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left == 0 {
		return Fault{}, false
	}
	if f.left > 0 {
		f.left--
	}
	f.injected++
	return f.cur, true
}

type faultState struct {
	Fault    Fault `json:"fault"`
	Left     int   `json:"left"`
	Injected int   `json:"injected"`
}

func (f *faults) state() faultState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return faultState{Fault: f.cur, Left: f.left, Injected: f.injected}
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream unanswered
}
