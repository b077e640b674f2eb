package release_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// root is the repository, from this package's directory.
var root = filepath.Join("..", "..")

// tool builds a tool a module under tools/ pins (its go.mod's tool
// directive) from the Go module proxy, and returns the path of the
// executable, which go keeps in its build cache (go tool -n): built once,
// found at once after. A machine that cannot build it skips, unless CI is
// set: CI must check the release.
func tool(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command("go", "tool", "-n", name)
	cmd.Dir = filepath.Join(root, "tools", name)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("building tools/%s: %v\n%s", name, err, stderr)
		}
		t.Skipf("cannot build tools/%s here (%v); CI must:\n%s", name, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// TestGoReleaserAndActionlintPassTheReleaseFiles runs the real checkers:
// `goreleaser check` on .goreleaser.yaml and actionlint (with shellcheck
// on the workflows' scripts) on .github/workflows.
func TestGoReleaserAndActionlintPassTheReleaseFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds GoReleaser and actionlint")
	}
	goreleaser, actionlint := tool(t, "goreleaser"), tool(t, "actionlint")

	check := exec.Command(goreleaser, "check", "-f", ".goreleaser.yaml")
	check.Dir = root
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("goreleaser check: %v\n%s", err, out)
	}

	workflows, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if len(workflows) < 2 {
		t.Fatalf("workflows %v: want ci.yml and release.yml", workflows)
	}
	args := []string{"-shellcheck="}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		args = []string{"-shellcheck=" + sc}
	} else if os.Getenv("CI") != "" {
		t.Fatal("no shellcheck on this CI machine: .ci/run must install it (apt-get install -y shellcheck)")
	}
	for i, w := range workflows {
		workflows[i], _ = filepath.Rel(root, w)
	}
	lint := exec.Command(actionlint, append(args, workflows...)...)
	lint.Dir = root
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
}

type goreleaser struct {
	Builds []struct {
		ID, Main, Binary string
		Goos, Goarch     []string
		Env, Flags, Tags []string
		Ldflags          []string
		Overrides        []struct {
			Goarch string
			Env    []string
		}
	}
	Archives  []struct{ Files []string }
	Checksum  struct{ Algorithm string }
	Sboms     []struct{ Artifacts string }
	DockersV2 []struct {
		Dockerfile string
		Images     []string
		Platforms  []string
		BuildArgs  map[string]string `yaml:"build_args"`
		SBOM       bool              `yaml:"sbom"`
	} `yaml:"dockers_v2"`
}

// TestTheReleaseBuildsAsTheStaticScriptDoes: GoReleaser builds with
// scripts/build-static.sh's tags and flags (the Dockerfile's and CI's), for
// linux amd64 and arm64 with a C compiler each, and makes checksums, SBOMs
// and a two-platform image from docker/Dockerfile.release.
func TestTheReleaseBuildsAsTheStaticScriptDoes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var g goreleaser
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "scripts", "build-static.sh"))
	if err != nil {
		t.Fatal(err)
	}
	tags := regexp.MustCompile(`-tags '([^']*)'`).FindSubmatch(script)
	ldflags := regexp.MustCompile(`-ldflags "(-s -w -extldflags '-static') -X main.version=\$\{version\} -X main.commit=\$\{commit\}"`).FindSubmatch(script)
	if tags == nil || ldflags == nil || !strings.Contains(string(script), "CGO_ENABLED=1 go build -trimpath") {
		t.Fatal("scripts/build-static.sh no longer reads as this test expects: update both together")
	}
	if len(g.Builds) != 1 {
		t.Fatalf("%d builds, want one", len(g.Builds))
	}
	bd := g.Builds[0]
	if got := strings.Join(bd.Tags, ","); got != string(tags[1]) {
		t.Errorf("the release's tags %s, the script's %s", got, tags[1])
	}
	if want := string(ldflags[1]) + " -X main.version={{ .Version }} -X main.commit={{ .FullCommit }}"; len(bd.Ldflags) != 1 || bd.Ldflags[0] != want {
		t.Errorf("the release's ldflags %q, want %q", bd.Ldflags, want)
	}
	if !slices.Equal(bd.Flags, []string{"-trimpath"}) || !slices.Contains(bd.Env, "CGO_ENABLED=1") || bd.Main != "./cmd/sidecar" || bd.Binary != "sidecar" {
		t.Errorf("the build: %+v", bd)
	}
	if !slices.Equal(bd.Goos, []string{"linux"}) || !slices.Equal(bd.Goarch, []string{"amd64", "arm64"}) {
		t.Errorf("targets %v %v, want linux amd64 and arm64", bd.Goos, bd.Goarch)
	}
	cc := map[string]string{}
	for _, o := range bd.Overrides {
		for _, e := range o.Env {
			if v, ok := strings.CutPrefix(e, "CC="); ok {
				cc[o.Goarch] = v
			}
		}
	}
	if cc["amd64"] == "" || cc["arm64"] != "aarch64-linux-gnu-gcc" {
		t.Errorf("C compilers per architecture %v: cgo needs one for each, arm64's a cross-compiler", cc)
	}
	if g.Checksum.Algorithm != "sha256" || len(g.Sboms) == 0 || len(g.Archives) == 0 || !slices.Contains(g.Archives[0].Files, "LICENSE") {
		t.Errorf("checksums %q, SBOMs %v, archives %v: want sha256, SBOMs, LICENSE in the archives", g.Checksum.Algorithm, g.Sboms, g.Archives)
	}
	if len(g.DockersV2) != 1 {
		t.Fatalf("dockers_v2 %v: want one multi-arch image", g.DockersV2)
	}
	d := g.DockersV2[0]
	if d.Dockerfile != "docker/Dockerfile.release" || !slices.Equal(d.Images, []string{"ghcr.io/glpwinner/glp-sidecar"}) ||
		!slices.Equal(d.Platforms, []string{"linux/amd64", "linux/arm64"}) || !d.SBOM ||
		d.BuildArgs["VERSION"] != "{{ .Version }}" || d.BuildArgs["COMMIT"] != "{{ .FullCommit }}" {
		t.Errorf("the image: %+v", d)
	}
}

var pin = regexp.MustCompile(`ghcr\.io/glpwinner/glp-sidecar:([0-9A-Za-z.+-]+)`)

// TestTheManifestsPinTheReleaseTheChangelogNames: every manifest and
// Compose file names the same published image version, and CHANGELOG.md
// has it: as a release, or as the one Unreleased is to become.
func TestTheManifestsPinTheReleaseTheChangelogNames(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*.yaml"))
	composes, _ := filepath.Glob(filepath.Join(root, "docker", "*.yaml"))
	pins := map[string][]string{}
	for _, f := range append(files, composes...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pin.FindAllStringSubmatch(string(b), -1) {
			pins[m[1]] = append(pins[m[1]], filepath.Base(f))
		}
		if regexp.MustCompile(`image: (glp-sidecar|\S+/glp-sidecar):latest`).Match(b) {
			t.Errorf("%s names glp-sidecar:latest: pin the release", f)
		}
	}
	if len(pins) != 1 {
		t.Fatalf("the image versions named, by file: %v; want one", pins)
	}
	var version string
	for v := range pins {
		version = v
	}
	changelog, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	released := regexp.MustCompile(`(?m)^## \[` + regexp.QuoteMeta(version) + `\] - \d{4}-\d{2}-\d{2}$`).Match(changelog)
	upcoming := strings.Contains(string(changelog), "## [Unreleased]\n\nTo be released as **"+version+"**")
	if !released && !upcoming {
		t.Errorf("the manifests pin %s, which CHANGELOG.md names neither as a release nor as the one Unreleased becomes", version)
	}
}

// TestTheReleaseScriptsRefuseWhatIsNotReady runs scripts/release-check.sh
// and release-notes.sh on a copy of the tree, before and after the steps a
// maintainer takes to cut a release.
func TestTheReleaseScriptsRefuseWhatIsNotReady(t *testing.T) {
	tree := t.TempDir()
	for _, dir := range []string{"scripts", "deploy/kubernetes", "docker"} {
		if err := os.MkdirAll(filepath.Join(tree, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	for _, glob := range []string{"CHANGELOG.md", "scripts/release-*.sh", "deploy/kubernetes/*.yaml", "docker/*.yaml"} {
		m, _ := filepath.Glob(filepath.Join(root, glob))
		files = append(files, m...)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, rel), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(script string, args ...string) (string, bool) {
		out, err := exec.Command(filepath.Join(tree, "scripts", script), args...).CombinedOutput()
		return string(out), err == nil
	}
	version := ""
	for _, f := range files {
		if m := pin.FindStringSubmatch(readFile(t, f)); m != nil {
			version = m[1]
		}
	}
	if out, ok := run("release-check.sh", version); ok {
		t.Errorf("release-check %s passed before CHANGELOG.md has its section:\n%s", version, out)
	}
	if out, ok := run("release-check.sh", "v"+version); ok || !strings.Contains(out, "not a semantic version") {
		t.Errorf("release-check v%s: %q, want it refused (no v)", version, out)
	}
	if _, ok := run("release-notes.sh", "9.9.9"); ok {
		t.Error("release-notes printed notes for a version CHANGELOG.md lacks")
	}
	// The maintainer's step: Unreleased becomes the version, dated.
	changelog := filepath.Join(tree, "CHANGELOG.md")
	text := strings.Replace(readFile(t, changelog), "## [Unreleased]", "## [Unreleased]\n\n## ["+version+"] - 2026-12-08", 1)
	os.WriteFile(changelog, []byte(text), 0o644)
	if out, ok := run("release-check.sh", version); !ok {
		t.Errorf("release-check %s after the CHANGELOG step: %s", version, out)
	}
	if out, ok := run("release-notes.sh", version); !ok || !strings.Contains(out, "### Changed") || strings.Contains(out, "## [") {
		t.Errorf("release-notes %s: %q", version, out)
	}
	// A manifest left behind on another version stops the release.
	k8s := filepath.Join(tree, "deploy", "kubernetes", "sidecar.yaml")
	os.WriteFile(k8s, []byte(strings.ReplaceAll(readFile(t, k8s), "glp-sidecar:"+version, "glp-sidecar:0.0.1")), 0o644)
	if out, ok := run("release-check.sh", version); ok || !strings.Contains(out, "sidecar.yaml names ghcr.io/glpwinner/glp-sidecar:0.0.1") {
		t.Errorf("release-check with a stale pin: %q, want it refused naming the file", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
