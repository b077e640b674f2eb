package sidecar_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	answersStart = "<!-- answers table: start -->"
	answersEnd   = "<!-- answers table: end -->"
)

// answersTable is the block between the markers in a Markdown text, and
// the text with every such block taken out.
func answersTable(text string) (table, rest string, found bool) {
	for {
		i := strings.Index(text, answersStart)
		if i < 0 {
			return table, rest + text, found
		}
		j := strings.Index(text[i:], answersEnd)
		if j < 0 {
			return table, rest + text, found
		}
		block := text[i : i+j+len(answersEnd)]
		if !found {
			table, found = block, true
		} else if block != table {
			table = "(differing copies)"
		}
		rest += text[:i]
		text = text[i+j+len(answersEnd):]
	}
}

// TestEveryGuideQuotesTheOneAnswersTable: docs/answers.md holds the one
// table of the conversion endpoint's answers and what a client does with
// each; the guides quote it unchanged, and no doc keeps a table of its own.
func TestEveryGuideQuotesTheOneAnswersTable(t *testing.T) {
	b, err := os.ReadFile("docs/answers.md")
	if err != nil {
		t.Fatal(err)
	}
	source, _, ok := answersTable(string(b))
	if !ok {
		t.Fatal("docs/answers.md has no table between " + answersStart + " and " + answersEnd)
	}
	for _, row := range []string{
		"| 202 |", "| 200 |", "| 201 under `?wait=` |", "| 200 under `?wait=` |", "| 202 under `?wait=` |", "| 422 under `?wait=` |",
		"| 400 |", "| 401 |", "| 403 |", "| 413 / 415 |", "| 422 |", "| 429 |", "| 503 |", "| 503 with `\"stored\":\"unknown\"` |", "| no answer |",
	} {
		if strings.Count(source, "\n"+row) != 1 {
			t.Errorf("docs/answers.md's table has no row (or more than one) for %s", row)
		}
	}
	for _, must := range []string{"GLP_BROWSER_CALLS", "GLP_ALLOWED_ORIGINS", "`glp.js` logs it on the browser console", "what your client does"} {
		if !strings.Contains(source, must) {
			t.Errorf("docs/answers.md's table does not say %s", must)
		}
	}
	quoting := map[string]bool{"docs/integration.md": true, "docs/reference.md": true}
	docs, _ := filepath.Glob("docs/*.md")
	examples, _ := filepath.Glob("examples/*/*.md")
	for _, page := range append(append([]string{"README.md", "BENCHMARKS.md"}, docs...), examples...) {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		table, rest, found := answersTable(string(b))
		switch {
		case found && table != source:
			t.Errorf("%s quotes the answers table, but not as docs/answers.md has it: copy it again", page)
		case !found && quoting[page]:
			t.Errorf("%s does not quote docs/answers.md's table", page)
		}
		for _, line := range strings.Split(rest, "\n") {
			if strings.HasPrefix(line, "| 202") {
				t.Errorf("%s has a table of answers of its own (%q): quote docs/answers.md's", page, line)
			}
		}
		if page != "docs/answers.md" && strings.Contains(string(b), "anything but\n202 or 200 as an error") {
			t.Errorf("%s says anything but 202 or 200 is an error, but a ?wait= call succeeds with 201", page)
		}
	}
	readme, _ := os.ReadFile("README.md")
	if !strings.Contains(string(readme), "(docs/answers.md)") {
		t.Error("README.md does not link to docs/answers.md")
	}
}
