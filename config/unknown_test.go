package config_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/glpwinner/glp-sidecar/config"
)

func TestAMisspelledVariableIsReportedWithTheNearestName(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin",
		"GLP_PROVIDER_ID=123",
		"GLP_INGEST_TOKN=a-secret-value-never-shown",
		"GLP_ALLOWED_ORIGIN=https://www.example.com",
		"GLP_MOCK_PROVIDERS=123=test-token", // the mock's
		"GLP_TEST_DB_URL=postgres://x",      // the tests'
		"GLP_SOMETHING_ELSE_ENTIRELY=1",
		"GLPX_NOT_OURS=1",
	}
	got := config.UnknownVariables(environ)
	var lines []string
	for _, u := range got {
		lines = append(lines, u.String())
	}
	want := []string{
		"GLP_ALLOWED_ORIGIN is not a variable glp-sidecar reads, and is ignored: did you mean GLP_ALLOWED_ORIGINS?",
		"GLP_INGEST_TOKN is not a variable glp-sidecar reads, and is ignored: did you mean GLP_INGEST_TOKEN?",
	}
	if len(lines) != 3 || !slices.Equal(lines[:2], want) {
		t.Fatalf("got\n%s\nwant\n%s\nand GLP_SOMETHING_ELSE_ENTIRELY", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(lines[2], "GLP_SOMETHING_ELSE_ENTIRELY is not a variable glp-sidecar reads, and is ignored (the nearest is GLP_") {
		t.Errorf("a name far from every known one: %s", lines[2])
	}
	if strings.Contains(strings.Join(lines, "\n"), "secret") {
		t.Error("a warning repeats a variable's value")
	}
}

func TestAConfigurationErrorNamesTheMisspellingThatWasMeantForIt(t *testing.T) {
	err := &config.Error{Var: "GLP_PROVIDER_ID", Problem: "is required: the numeric provider id GLP Winner gave you"}
	config.Hint(err, config.UnknownVariables([]string{"GLP_PROVIDR_ID=123", "GLP_INGEST_TOKN=x"}))
	if want := "GLP_PROVIDER_ID: is required: the numeric provider id GLP Winner gave you (GLP_PROVIDR_ID is set, which glp-sidecar does not read: did you mean GLP_PROVIDER_ID?)"; err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	err = &config.Error{Var: "GLP_API_TOKEN", Problem: "is required"}
	config.Hint(err, config.UnknownVariables([]string{"GLP_API_TOKEN_FIEL=/run/secrets/t"}))
	if !strings.Contains(err.Error(), "did you mean GLP_API_TOKEN_FILE?") {
		t.Errorf("the file form: %s", err)
	}
}

// misspellings are the names the docs and tests misspell on purpose.
var misspellings = map[string]bool{
	"GLP_INGEST_TOKN": true, "GLP_ALLOWED_ORIGIN": true, "GLP_PROVIDR_ID": true,
	"GLP_SOMETHING_ELSE_ENTIRELY": true, "GLP_API_TOKEN_FIEL": true, "GLP_LISTEN_ADR": true,
}

// TestEveryVariableTheProjectNamesIsKnown reads every file of the tree for
// GLP_ names: a variable read outside the configuration's specs (a test's,
// a script's), or named in a doc, a manifest or a Compose file, that
// config.Known does not list would be warned about at every start.
func TestEveryVariableTheProjectNamesIsKnown(t *testing.T) {
	known := map[string]bool{}
	for _, k := range config.Known() {
		known[k] = true
	}
	name := regexp.MustCompile(`\bGLP_[A-Z0-9_]*[A-Z0-9]\b`)
	var files int
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "vendor", ".next", "dist":
				return filepath.SkipDir
			}
			return nil
		}
		if info, err := d.Info(); err != nil || !info.Mode().IsRegular() || info.Size() > 1<<20 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil || bytes.IndexByte(b, 0) >= 0 {
			return err
		}
		files++
		for _, n := range name.FindAll(b, -1) {
			if !known[string(n)] && !misspellings[string(n)] {
				t.Errorf("%s names %s, which sidecar would warn about as unknown: add it to its spec, or to config's testVariables", path, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read %d files: not the whole tree", files)
	}
}
