package bench

import (
	"strings"
	"testing"
)

func TestTheVerdictSaysOfEachTargetWhetherItWasMet(t *testing.T) {
	var gs goals
	cells := []string{
		gs.aim(goal{what: "accept: ratio", got: 0.60, ok: true, atLeast: true, want: 0.60, show: twoPlaces}),
		gs.aim(goal{what: "p99", got: 2.31, ok: true, want: 2, show: twoPlaces}),
		gs.aim(goal{what: "start to ready", got: 12, ok: true, want: 200, show: millis}),
		gs.aim(goal{what: "drain", ok: false, atLeast: true, want: 0.9, show: twoPlaces}),
	}
	if strings.Join(cells, "|") != "≥ 0.60|≤ 2.00|≤ 200 ms|≥ 0.90" {
		t.Errorf("the table's targets: %q", cells)
	}
	var b strings.Builder
	gs.verdict(&b)
	want := `
verdict: 2 of 4 targets met (1 not measured)
  met           accept: ratio: 0.60 (target ≥ 0.60)
  missed        p99: 2.31 (target ≤ 2.00)
  met           start to ready: 12 ms (target ≤ 200 ms)
  not measured  drain (target ≥ 0.90)
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
