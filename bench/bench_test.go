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
}
