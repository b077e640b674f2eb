package bench

import (
	"fmt"
	"io"
	"strings"
)

// goal is one target of the bench's table, and what the run measured for
// it: the table's target column and the verdict below the table both come
// from it.
type goal struct {
	what    string               // the row, as a reader finds it in the table
	got     float64              // what was measured (ok false: not measured)
	ok      bool                 // whether got was measured at all
	atLeast bool                 // ≥ want; else ≤ want
	want    float64              // the target
	show    func(float64) string // how got and want are written
}

// met reports whether the run reached the target.
func (g goal) met() bool {
	if g.atLeast {
		return g.got >= g.want
	}
	return g.got <= g.want
}

// target is the table's target column.
func (g goal) target() string {
	if g.atLeast {
		return "≥ " + g.show(g.want)
	}
	return "≤ " + g.show(g.want)
}

// String is the goal's verdict line.
func (g goal) String() string {
	switch {
	case !g.ok:
		return fmt.Sprintf("not measured  %s (target %s)", g.what, g.target())
	case g.met():
		return fmt.Sprintf("met           %s: %s (target %s)", g.what, g.show(g.got), g.target())
	}
	return fmt.Sprintf("missed        %s: %s (target %s)", g.what, g.show(g.got), g.target())
}

// goals collects a report's goals as its table is written.
type goals []goal

// aim records g and returns its target, for the table's column.
func (gs *goals) aim(g goal) string {
	*gs = append(*gs, g)
	return g.target()
}

// verdict ends the bench's report: how many targets were met, then one
// line per target.
func (gs goals) verdict(w io.Writer) {
	met, measured := 0, 0
	for _, g := range gs {
		if g.ok {
			measured++
			if g.met() {
				met++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nverdict: %d of %d targets met", met, len(gs))
	if measured < len(gs) {
		fmt.Fprintf(&b, " (%d not measured)", len(gs)-measured)
	}
	b.WriteString("\n")
	for _, g := range gs {
		b.WriteString("  " + g.String() + "\n")
	}
	io.WriteString(w, b.String())
}

func twoPlaces(f float64) string { return fmt.Sprintf("%.2f", f) }
func perSecond(f float64) string { return num(f) + "/s" }
func megabytes(f float64) string { return fmt.Sprintf("%.1f MB", f) }
func millis(f float64) string    { return fmt.Sprintf("%.0f ms", f) }
