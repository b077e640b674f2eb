package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// testVariables are GLP_ variables that the project's tests, CI scripts and
// benchmarks read (a sidecar started by a test inherits them): known, so
// that none of them is reported as a misspelling.
var testVariables = []string{
	"GLP_TEST_DB_URL",        // internal/pgtest: a PostgreSQL server for the tests (scripts/ci-postgres.sh)
	"GLP_TEST_PG_DIR",        // scripts/ci-postgres.sh: the throwaway cluster's directory
	"GLP_SCREENS_DIR",        // cmd/sidecar's browser tests: where screenshots go
	"GLP_OUTBOX_CRASH_CHILD", // outbox's crash test: marks its child process
}

// Known is every GLP_ variable that glp-sidecar reads: the sidecar's, the
// mock's, the outbox commands' (their envconfig tags, so that a variable
// added to a spec is known at once) and the tests'.
func Known() []string {
	seen := map[string]bool{}
	for _, spec := range []any{Config{}, MockConfig{}, OutboxConfig{}} {
		t := reflect.TypeOf(spec)
		for i := range t.NumField() {
			if name := t.Field(i).Tag.Get("envconfig"); name != "" {
				seen[Prefix+"_"+name] = true
			}
		}
	}
	for _, name := range testVariables {
		seen[name] = true
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Unknown is a GLP_ variable that glp-sidecar does not read, and the known
// name nearest to it.
type Unknown struct {
	Name, Nearest string
	Distance      int // edits from Name to Nearest
}

// Likely reports whether Nearest is close enough to be what was meant.
func (u Unknown) Likely() bool {
	return u.Distance <= max(2, len(u.Name)/5)
}

// String is the one warning line: the name (never the value, which may be
// a token) and the nearest known name.
func (u Unknown) String() string {
	if u.Likely() {
		return fmt.Sprintf("%s is not a variable glp-sidecar reads, and is ignored: did you mean %s?", u.Name, u.Nearest)
	}
	return fmt.Sprintf("%s is not a variable glp-sidecar reads, and is ignored (the nearest is %s; `sidecar help` lists them all)", u.Name, u.Nearest)
}

// UnknownVariables reads an environment (os.Environ's form, NAME=value)
// and returns its GLP_ variables that glp-sidecar does not read, sorted by
// name, each with the nearest known name.
func UnknownVariables(environ []string) []Unknown {
	known := Known()
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	var out []Unknown
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, Prefix+"_") || isKnown[name] {
			continue
		}
		u := Unknown{Name: name, Distance: -1}
		for _, k := range known {
			if d := distance(name, k); u.Distance < 0 || d < u.Distance {
				u.Nearest, u.Distance = k, d
			}
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b Unknown) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Hint adds to a configuration error the unknown variable that was most
// likely meant for it (GLP_PROVIDR_ID set while GLP_PROVIDER_ID is
// required), so that its one line says both.
func Hint(err *Error, unknown []Unknown) {
	for _, u := range unknown {
		if u.Likely() && (u.Nearest == err.Var || u.Nearest+"_FILE" == err.Var || u.Nearest == err.Var+"_FILE") {
			err.Problem += fmt.Sprintf(" (%s is set, which glp-sidecar does not read: did you mean %s?)", u.Name, u.Nearest)
			return
		}
	}
}

// distance is the Levenshtein distance between a and b (ASCII names).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
