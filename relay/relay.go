// Package relay delivers queued events to GLP Winner. A dispatcher claims due
// events from the outbox and hands them to a fixed number of workers over one
// keep-alive client; each worker records what the upstream answered. When the
// upstream fails, the relay stops fanning out and probes with one event at a
// backoff pace; when the upstream refuses the credentials it pauses, events
// stay queued, and it probes until they are accepted again.
//
// One event's way, in dispatcher.go and deliver.go: dispatcher.claim takes
// it from the Queue and hands it to a worker (dispatcher.work); Relay.deliver
// posts it (post), reads the answer (classify), works out what the outbox
// records (result: the state by sidecar.Answered, the next attempt by the
// retry policy, policy.go) and records it (record), which tells the
// event's waiters (waiters.go); the outbox applies the record to the event
// by sidecar.Transition. The worker reports to the dispatcher, which moves
// the relay between running, backing off and paused on what the answer
// meant (dispatcher.settle), at the probe pace of the same policy.
package relay

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Defaults and limits.
const (
	ConversionPath   = "/api/track/v1/conversion"
	MaxProbeInterval = time.Minute // the longest wait between probes of a failing upstream
	maxAnswerBytes   = 64 << 10
	idlePoll         = 2 * time.Second // look for work the relay was not told about (the CLI's retries)
	storeRetry       = time.Second
	minWait          = 10 * time.Millisecond // between two looks, whatever the clock says
	expireEvery      = time.Minute
	randomization    = 0.5 // ± jitter of every backoff interval
	multiplier       = 2   // each retry interval doubles the last
)

// Store is the outbox, as the relay uses it: the queue it delivers from, and
// the events Wait looks up.
type Store interface {
	Queue
	EventReader
}

// Observer is told of every attempt's outcome, for metrics.
type Observer interface {
	Attempted(verdict string, status int, d time.Duration)
}

// Options configure the relay.
type Options struct {
	Store      Store
	BaseURL    string // ConversionPath is appended
	ProviderID int64
	Token      string
	TestMode   bool // every event with ?testMode=true
	// SendPersonal says when email and IP go upstream
	// (GLP_SEND_PERSONAL_DATA; "" is sidecar.SendWhenNeeded).
	SendPersonal     sidecar.SendPolicy
	Workers          int
	RequestTimeout   time.Duration
	RetryInitial     time.Duration
	RetryMaxInterval time.Duration
	RetryMaxAge      time.Duration
	Observer         Observer
	Logger           *slog.Logger

	// Set by tests only (export_test.go).
	lease  time.Duration // 0: 2 × RequestTimeout + 5s
	client *http.Client  // nil: newClient
	clock  clock         // nil: the wall clock
}

// Status is the relay's state.
type Status = sidecar.RelayStatus

// Relay is the delivery loop.
type Relay struct {
	opts    Options
	url     string
	client  *http.Client
	clock   clock
	kick    chan struct{}
	waiters *waiters
	policy  *policy

	mu     sync.Mutex
	status Status

	recording chan struct{}  // bounds the records not yet on disk
	records   sync.WaitGroup // records not yet on disk, which Run waits for

	// accepted is when (on the relay's clock) the latest attempt started
	// whose answer showed the credentials and URL accepted, and refused
	// when the latest pausing answer (401, 403, a redirect, 404, 405) came
	// (Unix ns): see refusedAlone.
	accepted, refused atomic.Int64
}

// New checks the options and returns the relay; Run starts it.
func New(opts Options) (*Relay, error) {
	if opts.Store == nil {
		return nil, errors.New("relay: no store")
	}
	if opts.Workers < 1 || opts.RequestTimeout <= 0 || opts.RetryInitial <= 0 || opts.RetryMaxInterval < opts.RetryInitial || opts.RetryMaxAge <= 0 {
		return nil, errors.New("relay: workers, request timeout and retry intervals must be positive")
	}
	if opts.lease <= 0 {
		opts.lease = 2*opts.RequestTimeout + 5*time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.clock == nil {
		opts.clock = wallClock{}
	}
	if opts.client == nil {
		opts.client = newClient(opts.Workers, opts.RequestTimeout)
	}
	r := &Relay{
		opts:      opts,
		url:       strings.TrimRight(opts.BaseURL, "/") + ConversionPath,
		client:    opts.client,
		clock:     opts.clock,
		kick:      make(chan struct{}, 1),
		waiters:   newWaiters(opts.Store),
		policy:    newPolicy(opts, opts.clock),
		status:    Status{Mode: sidecar.RelayRunning, Since: opts.clock.Now()},
		recording: make(chan struct{}, 4*opts.Workers),
	}
	return r, nil
}

// newClient is the upstream client: keep-alive connections for the workers,
// timeouts on every phase, and redirects never followed, so that the token
// goes nowhere but GLP_API_URL.
func newClient(workers int, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          workers,
			MaxIdleConnsPerHost:   workers,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Notify wakes the relay: a new event is queued.
func (r *Relay) Notify() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Status returns the relay's state.
func (r *Relay) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.withStoreReason(r.status) // storestate.go
}

func (r *Relay) setMode(mode sidecar.RelayMode, reason string, nextProbe time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status.Mode != mode {
		r.status.Since = r.clock.Now()
	}
	r.status.Mode, r.status.Reason, r.status.NextProbe = mode, reason, nextProbe
}

func (r *Relay) setInFlight(n int) {
	r.mu.Lock()
	r.status.InFlight = n
	r.mu.Unlock()
}
