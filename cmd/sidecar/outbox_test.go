package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glpwinner/glp-sidecar/sqlite"
)

// Each outbox command takes only its own flags: one that does not apply is
// a usage error (exit 2) that names it, in one line, and touches nothing;
// the flags that do apply still work. In process: no binary is built.
func TestEachOutboxCommandRefusesTheFlagsThatDoNotApply(t *testing.T) {
	db := filepath.Join(t.TempDir(), "outbox.db")
	box, err := sqlite.Open(sqlite.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	box.Close()
	t.Setenv("GLP_DB_PATH", db)
	t.Setenv("GLP_DB_URL", "")
	call := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := exitCode(run(context.Background(), append([]string{"outbox"}, args...), &out, &errb), &errb)
		return out.String(), errb.String(), code
	}
	for _, tt := range []struct {
		flag string
		args []string
	}{
		{"-older-than", []string{"stats", "--older-than", "1h"}},
		{"-state", []string{"stats", "--state", "dead"}},
		{"-to", []string{"stats", "--to", "postgres://h/db"}},
		{"-older-than", []string{"list", "--older-than", "1h"}},
		{"-limit", []string{"show", "01ID", "--limit", "5"}},
		{"-state", []string{"show", "01ID", "--state", "dead"}},
		{"-limit", []string{"retry", "--state", "dead", "--limit", "5"}},
		{"-older-than", []string{"retry", "01ID", "--older-than", "1h"}},
		{"-state", []string{"purge", "--state", "dead"}},
		{"-limit", []string{"purge", "--limit", "5"}},
		{"-db-url", []string{"migrate", "--to", "postgres://h/db", "--db-url", "postgres://h/db"}},
		{"-state", []string{"migrate", "--to", "postgres://h/db", "--state", "dead"}},
	} {
		out, errs, code := call(tt.args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "outbox "+tt.args[0]+":") || !strings.Contains(lines[0], "not defined: "+tt.flag) || out != "" {
			t.Errorf("outbox %s: exit %d, %q %q: want 2 and one line naming %s", strings.Join(tt.args, " "), code, out, errs, tt.flag)
		}
	}
	for _, args := range [][]string{
		{"stats", "--json", "--db", db},
		{"list", "--state", "queued", "--limit", "5"},
		{"retry", "--state", "dead", "--json"},
		{"purge", "--older-than", "1h"},
	} {
		if out, errs, code := call(args...); code != 0 || errs != "" || out == "" {
			t.Errorf("outbox %s: exit %d, %q %q: want 0 and its output", strings.Join(args, " "), code, out, errs)
		}
	}
}
