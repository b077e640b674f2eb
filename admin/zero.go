package admin

// The label values each counter can take, exported at 0 from the start: a
// series that first appears at 1 is invisible to rate() and increase(),
// which need two samples, so the first refusal, the first dead event or
// the first dropped click would never show on a graph nor fire an alert.
// The words are the ones the rooms report (ingest's outcomes and refusal
// reasons, the relay's outcomes, capture's drop reasons); cmd/sidecar's
// TestAFreshSidecarExportsEveryCounterAtZero holds them to those.
var (
	// conversionEndpoints are ingest.Paths(): the endpoint label.
	conversionEndpoints = []string{"/glp-s2s-conversion", "/api/glp-s2s-conversion"}
	// receivedOutcomes are ingest's answers: accepted, waited for, refused, failed.
	receivedOutcomes = []string{"queued", "duplicate", "ok", "rejected",
		"invalid", "unauthorized", "too_large", "unsupported_type", "nothing_to_attribute", "rate_limited",
		"forbidden_origin", "forbidden_browser_call", "method_not_allowed", "unavailable", "internal_error", "preflight"}
	// deliveryOutcomes are the relay's attempts' outcomes; statusClasses the
	// upstream's answers ("none": no answer).
	deliveryOutcomes = []string{"delivered", "duplicate", "rejected", "unconfirmed", "dead", "retry", "paused"}
	statusClasses    = []string{"none", "2xx", "3xx", "4xx", "5xx"}
	// refusedReasons are ingest's Reason… constants.
	refusedReasons = []string{"invalid_body", "unauthorized", "forbidden_origin", "too_large", "unsupported_type", "nothing_to_attribute", "rate_limited",
		"browser_calls_off", "browser_call_without_click_id", "uncorroborated_browser_call"}
	// dropReasons are capture's Drop… constants.
	dropReasons = []string{"address", "same_click", "queue_full", "oldest", "write_failed"}
)

// zero creates every counter's series at 0.
func (m *Metrics) zero() {
	for _, e := range conversionEndpoints {
		for _, o := range receivedOutcomes {
			m.received.WithLabelValues(e, o)
		}
	}
	for _, o := range deliveryOutcomes {
		for _, c := range statusClasses {
			m.deliveries.WithLabelValues(o, c)
		}
	}
	for _, r := range refusedReasons {
		m.refused.WithLabelValues(r)
	}
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
}
