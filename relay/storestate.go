package relay

// The relay's state names the store when the store is what stops it. A
// full disk (or a file no longer at GLP_DB_PATH, or a database down) fails
// every claim and record; the relay's mode and reason still said what the
// upstream last answered ("upstream 503" from an hour ago), and the
// dashboard, /readyz's relay and the admin API sent the operator to the
// wrong place.

// storeReasonPrefix starts the relay's reason while the store refuses
// writes.
const storeReasonPrefix = "the outbox cannot take writes (the relay's claims and records among them): "

// writeFailer is a store that knows its last write failed for want of room
// or of the database: both stores are (sidecar.Store.LastWriteError).
type writeFailer interface {
	LastWriteError() error
}

// withStoreReason is st with the store's failure as its reason, while its
// last write failed.
func (r *Relay) withStoreReason(st Status) Status {
	wf, ok := r.opts.Store.(writeFailer)
	if !ok {
		return st
	}
	if err := wf.LastWriteError(); err != nil {
		st.Reason = storeReasonPrefix + err.Error()
	}
	return st
}
