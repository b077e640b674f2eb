package admin

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// WriteChecker is a store that can tell whether it takes writes now: the
// check /readyz makes (sidecar.Store has both methods).
type WriteChecker interface {
	LastWriteError() error
	Writable(ctx context.Context) error
}

var writeErrorDesc = prometheus.NewDesc(namespace+"_outbox_write_error",
	"1 when the outbox refuses writes (read-only, full, unreachable: conversions are answered 503 and /readyz fails), else 0.", nil, nil)

// writeCollector exports, at scrape time, whether the outbox takes writes.
type writeCollector struct{ store WriteChecker }

func (c writeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- writeErrorDesc }

func (c writeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	failed := 0.0
	if c.store.LastWriteError() != nil || c.store.Writable(ctx) != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(writeErrorDesc, prometheus.GaugeValue, failed)
}
