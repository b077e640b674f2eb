package sidecar_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/glpwinner/glp-sidecar/config"
	"github.com/kelseyhightower/envconfig"
)

// includeMarker introduces a code block that must equal a file of the tree.
var includeMarker = regexp.MustCompile(`^<!-- include: (\S+) -->$`)

// includedBlocks reads a Markdown file's included blocks: file → block.
func includedBlocks(t *testing.T, doc string) map[string]string {
	t.Helper()
	f, err := os.Open(doc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks := map[string]string{}
	var file string
	var inBlock bool
	var body strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case file == "" && includeMarker.MatchString(line):
			file = includeMarker.FindStringSubmatch(line)[1]
		case file != "" && !inBlock:
			if !strings.HasPrefix(line, "```") {
				t.Fatalf("%s: the include of %s is not followed by a code block", doc, file)
			}
			inBlock = true
		case inBlock && line == "```":
			blocks[file] = body.String()
			file, inBlock = "", false
			body.Reset()
		case inBlock:
			body.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

func TestTheIntegrationGuideShowsEachExampleExactlyAsCIRunsIt(t *testing.T) {
	blocks := includedBlocks(t, "docs/integration.md")
	for _, file := range []string{
		"examples/hybrid/signup.html", "examples/nextjs/next.config.js", "examples/nextjs/proxy.ts",
		"examples/glpjs/signup.html", "examples/node-express/server.js", "examples/php/index.php",
		"examples/python/app.py", "examples/go/go.mod", "examples/go/main.go",
	} {
		if _, ok := blocks[file]; !ok {
			t.Errorf("docs/integration.md does not include %s", file)
		}
	}
	for file, block := range blocks {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("docs/integration.md includes %s: %v", file, err)
			continue
		}
		if want := strings.TrimSuffix(string(b), "\n") + "\n"; block != want {
			t.Errorf("docs/integration.md's block for %s differs from the file: copy the file into the doc", file)
		}
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// headingAnchors are the anchors GitHub gives a Markdown file's headings.
func headingAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(b), -1) {
		slug := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				return unicode.ToLower(r)
			}
			return -1
		}, strings.TrimSpace(m[1]))
		anchors[slug] = true
	}
	return anchors
}

func TestTheREADMEIsShortAndEveryRelativeLinkResolves(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n >= 200 {
		t.Errorf("README.md has %d lines: keep it under 200 and move the detail to docs/", n)
	}
	docs, _ := filepath.Glob("docs/*.md")
	for _, page := range append([]string{"README.md", "BENCHMARKS.md"}, docs...) {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(text), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "#") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			path := filepath.Clean(filepath.Join(filepath.Dir(page), target))
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s, which does not exist", page, link)
				continue
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !headingAnchors(t, path)[anchor] {
				t.Errorf("%s links to %s: %s has no such heading", page, link, path)
			}
		}
	}
}

func TestTheREADMEPutsSidecarOnThePATHBeforeItUsesIt(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	install := regexp.MustCompile(`(?m)^go (install|build -o \S+) \./cmd/sidecar`).FindIndex(b)
	firstUse := regexp.MustCompile("(?m)^sidecar [a-z]").FindIndex(b)
	if install == nil {
		t.Fatal("README.md has no step that puts a sidecar binary on the PATH (go install ./cmd/sidecar)")
	}
	if firstUse != nil && firstUse[0] < install[0] {
		t.Errorf("README.md runs sidecar at byte %d before the step that installs it (byte %d)", firstUse[0], install[0])
	}
}

// referenceVariables reads reference.md's table of variables: name → default
// ("" for empty or required).
func referenceVariables(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Configuration\n")
	section, _, _ = strings.Cut(section, "\n## ")
	vars := map[string]string{}
	name := regexp.MustCompile("`(GLP_[A-Z_]+)`")
	for _, line := range strings.Split(section, "\n") {
		cols := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `GLP_") || len(cols) < 3 {
			continue
		}
		names := name.FindAllStringSubmatch(cols[0], -1)
		defaults := strings.Split(cols[1], " / ")
		for i, n := range names {
			d := defaults[0]
			if len(defaults) == len(names) {
				d = defaults[i]
			}
			d = strings.Trim(d, "`")
			if d == "empty" || strings.HasPrefix(d, "required") {
				d = ""
			}
			vars[n[1]] = d
		}
	}
	return vars
}

func TestTheReferenceListsEveryVariableWithItsDefault(t *testing.T) {
	documented := referenceVariables(t)
	var sidecarVars, mockVars strings.Builder
	format := "{{range .}}{{usage_key .}}\t{{usage_default .}}\n{{end}}"
	if err := envconfig.Usagef(config.Prefix, &config.Config{}, &sidecarVars, format); err != nil {
		t.Fatal(err)
	}
	if err := envconfig.Usagef(config.Prefix, &config.MockConfig{}, &mockVars, format); err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile("docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(sidecarVars.String()), "\n") {
		key, def, _ := strings.Cut(line, "\t")
		got, ok := documented[key]
		switch {
		case !ok:
			t.Errorf("docs/reference.md's variable table does not list %s (sidecar help does)", key)
		case got != def:
			t.Errorf("docs/reference.md gives %s the default %q; sidecar help says %q", key, got, def)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(mockVars.String()), "\n") {
		key, def, _ := strings.Cut(line, "\t")
		if _, ok := documented[key]; ok {
			continue // a variable the mock shares with the sidecar (GLP_LOG_LEVEL)
		}
		want := "`" + key + "`"
		if def != "" {
			want += " (`" + def + "`"
		}
		if !strings.Contains(strings.Join(strings.Fields(string(ref)), " "), want) {
			t.Errorf("docs/reference.md does not name the mock's %s with its default (%s)", key, want)
		}
	}
}
