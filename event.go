package sidecar

import "time"

// NewEvent is a conversion to append to the outbox.
type NewEvent struct {
	Key         string // idempotency key: Idempotency-Key, else conversion_id; "" for none
	Conversion  Conversion
	Test        bool   // relay with ?testMode=true
	ClickSource string // where the click id came from: ClickFromBody, ClickFromCookie, ClickFromLocalMatch or ""
}

// Where an event's click id came from.
const (
	ClickFromBody       = "body"
	ClickFromCookie     = "cookie"
	ClickFromLocalMatch = "local_match"
)

// Appended is the outbox's answer to an append.
type Appended struct {
	ID        string // the new event, or the first event with the same key
	Duplicate bool   // the key was already accepted; nothing new was stored
}

// Event is one conversion in the outbox and what has happened to it.
type Event struct {
	ID            string     `json:"id"`
	Key           string     `json:"idempotency_key,omitempty"`
	Conversion    Conversion `json:"conversion"`
	Test          bool       `json:"test"`
	ClickSource   string     `json:"click_source,omitempty"`
	State         State      `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LeaseUntil    time.Time  `json:"lease_until,omitzero"`
	LastStatus    int        `json:"last_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastBody      string     `json:"last_body,omitempty"`
	Upstream      Upstream   `json:"upstream,omitzero"`
	CreatedAt     time.Time  `json:"created_at"`
	QueuedAt      time.Time  `json:"queued_at"` // when it was (re)queued: the retry max age counts from here
	UpdatedAt     time.Time  `json:"updated_at"`
	FinishedAt    time.Time  `json:"finished_at,omitzero"`
	Erased        bool       `json:"erased,omitempty"` // email and IP erased by retention

	// MayHaveLanded: an attempt of this event may have reached GLP Winner
	// unanswered (written and no answer read, or a lease that ran out
	// after a crash). The final state counts it. Landed is how many did.
	MayHaveLanded bool `json:"may_have_landed"`
	Landed        int  `json:"landed_attempts,omitempty"`
	// PossibleDouble: GLP Winner may hold this event twice (soft-matched,
	// answered 201 after an attempt that may have landed).
	PossibleDouble bool `json:"possible_double"`
	// RefusedAlone counts the answers that would pause the relay (401,
	// 403, a redirect, 404, 405) this event drew; LastRefusedAt is the
	// last one. The relay rejects an event that keeps drawing them while
	// others are accepted.
	RefusedAlone  int       `json:"-"`
	LastRefusedAt time.Time `json:"-"`
}

// Upstream is what GLP Winner said about a delivered or duplicate event.
type Upstream struct {
	ConversionID string `json:"conversion_id,omitempty"`
	ClickID      string `json:"glp_click_id,omitempty"`
	RecordedAt   string `json:"recorded_at,omitempty"`
}

// Attempt is one delivery attempt of an event.
type Attempt struct {
	N         int           `json:"n"`
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration_ns"`
	Status    int           `json:"status,omitempty"` // 0: no answer
	Error     string        `json:"error,omitempty"`  // transport error, or what the answer meant
	Body      string        `json:"body,omitempty"`   // the upstream's answer, truncated
	Outcome   string        `json:"outcome"`          // the state it led to, or "retry" or "paused"
	// MayHaveLanded: the request was written and no answer was read.
	MayHaveLanded bool `json:"may_have_landed,omitempty"`
	// Repeats is how many identical uncounted attempts this row stands
	// for (a paused relay's probes), the last one at LastAt.
	Repeats int       `json:"repeats,omitempty"`
	LastAt  time.Time `json:"last_at,omitzero"`
}

// Result is what one delivery attempt came to, for the outbox to record.
type Result struct {
	EventID       string
	Attempt       Attempt
	State         State     // StateQueued to try again
	NextAttemptAt time.Time // when State is StateQueued
	Uncounted     bool      // the attempt does not count toward the event's attempts (the relay was paused)
	Upstream      Upstream

	PossibleDouble bool // see Event.PossibleDouble
	RefusedAlone   bool // the answer would pause the relay: counted on the event (see Event.RefusedAlone)

	// LeaseUntil is the lease of the claim the attempt was made under
	// (the claimed Event's LeaseUntil). When the event no longer holds it
	// (the lease ran out and another claim took the event, or the event
	// was finished meanwhile), the record is late: its attempt is kept, and
	// so is what the answer proved GLP Winner holds (a 201's conversion
	// id, a possible double), but the event's state, schedule and lease stay the
	// current claim's. The claim that took the event counted this attempt
	// as one that may have landed. An event that holds GLP Winner's
	// conversion id is delivered: a late 201 turns an unconfirmed or dead
	// event delivered, and so does a record that would end it unconfirmed
	// or dead after a late 201. Zero: whatever lease the event holds.
	LeaseUntil time.Time
}

// Lease names a claim's hold on an event: the event and the end of the
// lease the claim got, which is the holder's token (see Event.Holds). A
// release is accepted only from the holder of the event's current lease.
type Lease struct {
	EventID string
	Until   time.Time
}

// Lease is the hold of the claim that handed e out.
func (e Event) Lease() Lease { return Lease{EventID: e.ID, Until: e.LeaseUntil} }

// Stats are the outbox's counts.
type Stats struct {
	States       map[State]int `json:"states"`
	OldestQueued time.Time     `json:"oldest_queued_at,omitzero"` // when the oldest queued event was accepted
	NextDue      time.Time     `json:"next_due_at,omitzero"`
	Burst        bool          `json:"burst,omitempty"` // a burst keeps the serving process's writer busy: delivery waits its turn (never set for another process)
	// PossibleDouble counts the events GLP Winner may hold twice.
	PossibleDouble int `json:"possible_double"`
}

// RelayMode is what the relay is doing; the word is its JSON and its
// metric label.
type RelayMode string

// Relay modes.
const (
	RelayRunning    RelayMode = "running"     // delivering
	RelayBackingOff RelayMode = "backing_off" // the upstream fails: probing with one event at a backoff pace
	RelayPaused     RelayMode = "paused"      // the upstream refused the credentials (or the URL is wrong): probing
)

// RelayStatus is the relay's state, for readiness, the dashboard and metrics.
type RelayStatus struct {
	Mode      RelayMode `json:"mode"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since"`
	NextProbe time.Time `json:"next_probe,omitzero"`
	InFlight  int       `json:"in_flight"`
}
