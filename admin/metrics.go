package admin

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	sidecar "github.com/glpwinner/glp-sidecar"
)

const namespace = "glp_sidecar"

// Metrics are the sidecar's Prometheus metrics. Labels are bounded: no
// click ids, emails, event ids or paths of the app.
type Metrics struct {
	reg        *prometheus.Registry
	received   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	delivery   *prometheus.HistogramVec
	requests   *prometheus.HistogramVec
	commits    prometheus.Histogram
	batch      prometheus.Histogram
	refused    *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	waitFull   prometheus.Counter

	refusedMu     sync.Mutex
	refusedCounts map[string]int // the refused counter's values, for the stats API

	now func() time.Time // the oldest queued event's age, at scrape time
}

// StatsSource gives the outbox's counts at scrape time.
type StatsSource interface {
	Stats(ctx context.Context) (sidecar.Stats, error)
}

// StatusSource gives the relay's state at scrape time.
type StatusSource interface {
	Status() sidecar.RelayStatus
}

// NewMetrics registers the sidecar's counters, Go's and the process's: what
// the outbox, the relay, ingest and capture report as it happens, so it
// exists before them. The outbox's counts and the relay's state, read at
// scrape time, join once those exist (Watch). now is the clock of the
// oldest queued event's age (nil: time.Now).
func NewMetrics(now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		now: now,
		reg: prometheus.NewRegistry(),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "conversions_received_total",
			Help: "Conversion requests to the public endpoint, by endpoint path and outcome.",
		}, []string{"endpoint", "outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "deliveries_total",
			Help: "Delivery attempts to GLP Winner, by outcome (delivered, duplicate, rejected, unconfirmed, dead, retry, paused) and status class.",
		}, []string{"outcome", "status_class"}),
		delivery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "delivery_duration_seconds",
			Help:    "Duration of one delivery attempt to GLP Winner, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP requests served, by listener, route, method and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"listener", "route", "method", "code"}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "outbox_commit_duration_seconds",
			Help:    "Duration of one outbox transaction (a group commit), disk sync included: how fast this disk makes a 202 durable.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 13),
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "outbox_commit_writes",
			Help:    "Writes (accepted events, claims, attempts) carried by one outbox transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9),
		}),
	}
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "glp_refused_requests_total",
		Help: "Conversion requests refused before anything was stored, by reason (invalid_body, unauthorized, forbidden_origin, too_large, unsupported_type, nothing_to_attribute, rate_limited, browser_calls_off, browser_call_without_click_id, uncorroborated_browser_call).",
	}, []string{"reason"})
	m.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "clicks_dropped_total",
		Help: "Landings not kept in the click log, by reason (address, same_click, queue_full, write_failed; oldest: pushed out of the full log). Their cookies were set all the same.",
	}, []string{"reason"})
	m.waitFull = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "wait_cap_reached_total",
		Help: "Server calls with ?wait= answered 202 at once because the most that may wait at a time were waiting (the event was stored all the same).",
	})
	m.refusedCounts = map[string]int{}
	m.zero() // zero.go: every counter's series at 0 from the start
	m.reg.MustRegister(m.refused, m.dropped, m.waitFull)
	m.reg.MustRegister(m.received, m.deliveries, m.delivery, m.requests, m.commits, m.batch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Watch has every scrape read the outbox's counts and the relay's state.
// Call it once, before the metrics are served: a second call panics.
func (m *Metrics) Watch(store StatsSource, relay StatusSource) {
	m.reg.MustRegister(&stateCollector{store: store, relay: relay, now: m.now})
	if wc, ok := store.(WriteChecker); ok { // writable.go
		m.reg.MustRegister(writeCollector{store: wc})
	}
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Received counts a conversion request (ingest's observer).
func (m *Metrics) Received(endpoint, outcome string) {
	m.received.WithLabelValues(endpoint, outcome).Inc()
}

// WaitCapReached counts a server call's ?wait= answered at once at the
// cap (the relay's LimitedWaiter).
func (m *Metrics) WaitCapReached() { m.waitFull.Inc() }

// Refused counts a refused conversion request (ingest's refusal observer).
func (m *Metrics) Refused(reason string) {
	m.refused.WithLabelValues(reason).Inc()
	m.refusedMu.Lock()
	m.refusedCounts[reason]++
	m.refusedMu.Unlock()
}

// RefusedCounts are the refused requests since start, by reason.
func (m *Metrics) RefusedCounts() map[string]int {
	m.refusedMu.Lock()
	defer m.refusedMu.Unlock()
	return maps.Clone(m.refusedCounts)
}

// ClicksDropped counts landings the click log did not keep (capture's
// drop observer).
func (m *Metrics) ClicksDropped(reason string, n int) {
	m.dropped.WithLabelValues(reason).Add(float64(n))
}

// Attempted counts a delivery attempt (the relay's observer).
func (m *Metrics) Attempted(outcome string, status int, d time.Duration) {
	class := "none"
	if status > 0 {
		class = strconv.Itoa(status/100) + "xx"
	}
	m.deliveries.WithLabelValues(outcome, class).Inc()
	m.delivery.WithLabelValues(outcome).Observe(d.Seconds())
}

// Committed observes one outbox transaction (the outbox's observer).
func (m *Metrics) Committed(writes int, took time.Duration) {
	m.commits.Observe(took.Seconds())
	m.batch.Observe(float64(writes))
}

// Instrument times every request of a listener. The route is the matched
// mux route's template, or "app" for what is proxied to the app.
func (m *Metrics) Instrument(listener string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
			next.ServeHTTP(rec, r)
			route := "other"
			if cur := mux.CurrentRoute(r); cur != nil {
				if tpl, err := cur.GetPathTemplate(); err == nil {
					route = tpl
				}
				if route == "/" || route == "" {
					route = "app"
				}
			}
			method := r.Method
			switch method {
			case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
			default:
				method = "other"
			}
			m.requests.WithLabelValues(listener, route, method, strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// stateCollector reads the outbox and the relay at scrape time.
type stateCollector struct {
	store StatsSource
	relay StatusSource
	now   func() time.Time
}

var (
	eventsDesc   = prometheus.NewDesc(namespace+"_events", "Events in the outbox, by state.", []string{"state"}, nil)
	oldestDesc   = prometheus.NewDesc(namespace+"_oldest_queued_age_seconds", "Age of the oldest queued event (0 when none is queued).", nil, nil)
	relayDesc    = prometheus.NewDesc(namespace+"_relay_state", "The relay's mode: 1 for the current one.", []string{"mode"}, nil)
	inFlightDesc = prometheus.NewDesc(namespace+"_relay_in_flight", "Deliveries in flight.", nil, nil)
	scrapeDesc   = prometheus.NewDesc(namespace+"_outbox_scrape_error", "1 when the outbox could not be read for this scrape.", nil, nil)
	doubleDesc   = prometheus.NewDesc(namespace+"_events_possible_double", "Events that GLP Winner may hold twice (soft-matched, recorded after an attempt that may have landed unanswered).", nil, nil)
	burstDesc    = prometheus.NewDesc(namespace+"_outbox_burst", "1 while a burst of conversions keeps the outbox's writer busy and delivery waits its turn (every 250 ms), else 0.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{eventsDesc, oldestDesc, relayDesc, inFlightDesc, scrapeDesc, burstDesc, doubleDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	st, err := c.store.Stats(ctx)
	failed := 0.0
	if err != nil {
		failed = 1
	} else {
		for _, s := range sidecar.States() {
			ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.GaugeValue, float64(st.States[s]), string(s))
		}
		age := 0.0
		if !st.OldestQueued.IsZero() {
			age = c.now().Sub(st.OldestQueued).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
		ch <- prometheus.MustNewConstMetric(doubleDesc, prometheus.GaugeValue, float64(st.PossibleDouble))
		burst := 0.0
		if st.Burst {
			burst = 1
		}
		ch <- prometheus.MustNewConstMetric(burstDesc, prometheus.GaugeValue, burst)
	}
	ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, failed)
	rs := c.relay.Status()
	for _, mode := range []sidecar.RelayMode{sidecar.RelayRunning, sidecar.RelayBackingOff, sidecar.RelayPaused} {
		v := 0.0
		if rs.Mode == mode {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(relayDesc, prometheus.GaugeValue, v, string(mode))
	}
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(rs.InFlight))
}
