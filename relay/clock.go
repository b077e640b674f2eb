package relay

import "time"

// clock is the relay's one source of time: every reading of the time and
// every wait. Tests run it faster than the wall, so that an outage of hours
// passes in seconds.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// wallClock is the real time.
type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
