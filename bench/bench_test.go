package bench

import (
	"testing"
	"time"
)

func TestCPUPerEventIsTheCPUBetweenTwoMarksOverTheEventsDoneBetweenThem(t *testing.T) {
	a := cpuMark{done: 100, cpu: [2]time.Duration{time.Second, 2 * time.Second}}
	b := cpuMark{done: 10_100, cpu: [2]time.Duration{2 * time.Second, 2500 * time.Millisecond}}
	got := perEvent(a, b)
	if want := [2]time.Duration{100 * time.Microsecond, 50 * time.Microsecond}; got != want {
		t.Errorf("perEvent = %v, want %v", got, want)
	}
	if got := perEvent(b, b); got != [2]time.Duration{} {
		t.Errorf("perEvent with no event done between = %v, want zero, not a division by zero", got)
	}
	// The mock spent 0.4 s between c and d: a few /proc ticks more or less
	// would move its figure by more than the change a drain looks for.
	c := cpuMark{done: 0, cpu: [2]time.Duration{time.Second, time.Second}}
	d := cpuMark{done: 1000, cpu: [2]time.Duration{1500 * time.Millisecond, 1400 * time.Millisecond}}
	if got, want := perEvent(c, d), [2]time.Duration{500 * time.Microsecond, 0}; got != want {
		t.Errorf("perEvent over too little CPU = %v, want %v (zero: not measured)", got, want)
	}
}
