package sidecar

import "strings"

// State is where an event of the outbox stands.
type State string

// The event states. queued is the only one the relay works on; the others
// are outcomes.
const (
	StateQueued    State = "queued"    // waiting for delivery, or being delivered (leased)
	StateDelivered State = "delivered" // GLP Winner holds it: a 201, or a 200 duplicate after an attempt of its own that may have landed
	StateDuplicate State = "duplicate" // a 200 duplicate when no attempt of its own may have landed: the click converted before
	StateRejected  State = "rejected"  // refused (400, 422, …) when no attempt of its own may have landed; retryable by hand
	StateDead      State = "dead"      // still undelivered after the retry max age; retryable by hand

	// StateUnconfirmed is a refusal after an attempt that may have landed:
	// most likely recorded by that attempt. Never retried by itself;
	// retryable by hand.
	StateUnconfirmed State = "unconfirmed"
)

// States lists every state in the order operators read them.
func States() []State {
	return []State{StateQueued, StateDelivered, StateDuplicate, StateRejected, StateUnconfirmed, StateDead}
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
func (s State) Retryable() bool {
	return s == StateRejected || s == StateUnconfirmed || s == StateDead
}

// RetryableStates lists the states an operator may send again.
func RetryableStates() []State { return []State{StateRejected, StateUnconfirmed, StateDead} }

// StateNames joins the names of states with commas, for messages.
func StateNames(states []State) string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
