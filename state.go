package sidecar

// State is where an event of the outbox stands.
type State string

// The event states. queued is the only one the relay works on; the others
// are outcomes.
const (
	StateQueued    State = "queued"    // waiting for delivery, or being delivered (leased)
	StateDelivered State = "delivered" // upstream answered 201
	StateDuplicate State = "duplicate" // upstream answered 200 duplicate
	StateRejected  State = "rejected"  // upstream answered 400 or 422; retryable by hand
	StateDead      State = "dead"      // still undelivered after the retry max age
)

// States lists every state in the order operators read them.
func States() []State {
	return []State{StateQueued, StateDelivered, StateDuplicate, StateRejected, StateDead}
}

// Valid reports whether s is one of the states.
func (s State) Valid() bool {
	for _, v := range States() {
		if s == v {
			return true
		}
	}
	return false
}

// Retryable reports whether an operator may send an event in state s again.
func (s State) Retryable() bool { return s == StateRejected || s == StateDead }
