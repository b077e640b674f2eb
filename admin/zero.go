package admin

// The label values each counter can take, exported at 0 from the start: a
// series that first appears at 1 is invisible to rate() and increase(),
// which need two samples, so the first refusal, the first dead event or
// the first dropped click would never show on a graph nor fire an alert.
// The words are the ones the rooms report (ingest's outcomes and refusal
// reasons, the relay's outcomes, capture's drop reasons); cmd/sidecar's
// TestAFreshSidecarExportsEveryCounterAtZero holds them to those.
var (
	// ConversionEndpoints are ingest.Paths(): the endpoint label.
	ConversionEndpoints = []string{"/glp-s2s-conversion", "/api/glp-s2s-conversion"}
	// ReceivedOutcomes are ingest's answers: accepted, waited for, refused, failed.
	ReceivedOutcomes = []string{"queued", "duplicate", "ok", "rejected",
		"invalid", "unauthorized", "too_large", "unsupported_type", "nothing_to_attribute", "rate_limited",
		"forbidden_origin", "method_not_allowed", "unavailable", "internal_error", "preflight"}
	// DeliveryOutcomes are the relay's attempts' outcomes; StatusClasses the
	// upstream's answers ("none": no answer).
	DeliveryOutcomes = []string{"delivered", "duplicate", "rejected", "unconfirmed", "dead", "retry", "paused"}
	StatusClasses    = []string{"none", "2xx", "3xx", "4xx", "5xx"}
	// RefusedReasons are ingest's Reason… constants.
	RefusedReasons = []string{"invalid_body", "unauthorized", "forbidden_origin", "too_large", "unsupported_type", "nothing_to_attribute", "rate_limited"}
	// DropReasons are capture's Drop… constants.
	DropReasons = []string{"address", "same_click", "queue_full", "oldest", "write_failed"}
)

// zero creates every counter's series at 0.
func (m *Metrics) zero() {
	for _, e := range ConversionEndpoints {
		for _, o := range ReceivedOutcomes {
			m.received.WithLabelValues(e, o)
		}
	}
	for _, o := range DeliveryOutcomes {
		for _, c := range StatusClasses {
			m.deliveries.WithLabelValues(o, c)
		}
	}
	for _, r := range RefusedReasons {
		m.refused.WithLabelValues(r)
	}
	for _, r := range DropReasons {
		m.dropped.WithLabelValues(r)
	}
}
