package relay

import (
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Fencing: one sender at a time (docs/reference.md, "Delivery to GLP
// Winner"). A claim leases an event until a time; once that time passes,
// another sidecar may claim it and send it. So a worker sends an event only
// while the request fits in what is left of its lease, with a margin, and
// its request ends before the lease does; what it records or gives back
// names that lease (sidecar.Lease), and the store takes it only from the
// lease's current holder.

// maxLeaseMargin caps the part of a lease kept clear at its end: the
// sidecars' clocks may disagree, and a request cut at its deadline takes a
// moment to end at the upstream too.
const maxLeaseMargin = 5 * time.Second

// leaseMargin is the part of the lease a request never reaches into: a
// tenth of it, at most maxLeaseMargin.
func (r *Relay) leaseMargin() time.Duration {
	return min(r.opts.lease/10, maxLeaseMargin)
}

// sendNeeds is how much of its lease an event must have left for a worker
// to start sending it: a request's time and the margin.
func (r *Relay) sendNeeds() time.Duration {
	return r.opts.RequestTimeout + r.leaseMargin()
}

// sendTimeout is the request's time for e: the request timeout, or less, so
// that the request ends the margin before the lease does. A process that
// stalled between the fence and the request gets no time at all (zero or
// less: the request is not written), never a moment to send in.
func (r *Relay) sendTimeout(e sidecar.Event) time.Duration {
	left := e.LeaseUntil.Sub(r.clock.Now()) - r.leaseMargin()
	return min(r.opts.RequestTimeout, left)
}
