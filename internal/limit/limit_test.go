package limit_test

import (
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/internal/limit"
)

func TestTheLimiterAllowsItsBurstThenItsRateAndKeepsItsTableBounded(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	l := limit.New[string](1, 3, 100)
	for i := 0; i < 3; i++ {
		if d := l.Allow("a", now); d != 0 {
			t.Fatalf("within the burst: wait %s", d)
		}
	}
	if d := l.Allow("a", now); d <= 0 || d > time.Second {
		t.Errorf("over the burst: wait %s, want up to 1s", d)
	}
	if d := l.Allow("a", now.Add(time.Second)); d != 0 {
		t.Errorf("a second later: wait %s", d)
	}
	for i := 0; i < 10_000; i++ {
		l.Allow(string(rune(i+1000)), now.Add(time.Duration(i)*time.Millisecond))
		if n := l.Len(); n > 100 {
			t.Fatalf("%d keys tracked, at most 100", n)
		}
	}
}
