package docker_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerfiles are the image's two recipes: from source, and the release's
// (GoReleaser's prebuilt binaries).
var dockerfiles = []string{"Dockerfile", "Dockerfile.release"}

// instructions reads a Dockerfile's instructions, continuation lines
// joined, comments and blank lines left out.
func instructions(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// fullyQualified reports whether an image reference names its registry
// (a first component with a dot or a port, or localhost) and, on Docker
// Hub, its namespace: what Podman needs without registry settings.
func fullyQualified(ref string) bool {
	host, rest, ok := strings.Cut(ref, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return false
	}
	if host == "docker.io" {
		return strings.Contains(rest, "/") // docker.io/library/golang, not docker.io/golang
	}
	return true
}

func TestEveryBaseImageIsNamedInFull(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want bool
	}{
		{"docker.io/library/golang:1.26-bookworm", true}, {"ghcr.io/glpwinner/glp-sidecar:0.4.0", true},
		{"golang:1.26-bookworm", false}, {"library/golang:1.26", false}, {"docker.io/golang:1.26", false},
	} {
		if got := fullyQualified(tc.ref); got != tc.want {
			t.Errorf("fullyQualified(%q) = %v", tc.ref, got)
		}
	}
	from := regexp.MustCompile(`^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$`)
	for _, file := range dockerfiles {
		stages := map[string]bool{}
		for _, ins := range instructions(t, file) {
			m := from.FindStringSubmatch(ins)
			if m == nil {
				if strings.HasPrefix(ins, "FROM") {
					t.Errorf("%s: cannot read %q", file, ins)
				}
				continue
			}
			if ref := m[1]; ref != "scratch" && !stages[ref] && !fullyQualified(ref) {
				t.Errorf("%s: FROM %s is a short name: Podman without registry settings refuses it; write docker.io/library/… in full", file, ref)
			}
			stages[m[2]] = true
		}
	}
	// What Compose pulls, Podman pulls too.
	files, _ := filepath.Glob("compose*.yaml")
	for _, file := range files {
		for name, svc := range readCompose(t, file).Services {
			ref := regexp.MustCompile(`^\$\{[A-Z_]+:-(.+)\}$`).ReplaceAllString(svc.Image, "$1")
			if ref != "" && !fullyQualified(ref) {
				t.Errorf("%s: service %s's image %s is a short name: write it in full", file, name, svc.Image)
			}
		}
	}
}

// finalStage is a Dockerfile's last stage, each file the image takes from
// elsewhere written alike (the binary's source differs by recipe).
func finalStage(t *testing.T, file string) []string {
	t.Helper()
	all := instructions(t, file)
	last := 0
	for i, ins := range all {
		if strings.HasPrefix(ins, "FROM ") {
			last = i
		}
	}
	var out []string
	for _, ins := range all[last:] {
		switch {
		case ins == "ARG TARGETPLATFORM":
			continue
		case ins == "COPY $TARGETPLATFORM/sidecar /sidecar":
			ins = "COPY --from=build /out/sidecar /sidecar"
		}
		out = append(out, regexp.MustCompile(`--from=\w+`).ReplaceAllString(ins, "--from=build"))
	}
	return out
}

func TestBothImagesAreTheSameEmptyImageWithLabelsAndAShellFreeHealthCheck(t *testing.T) {
	source, release := finalStage(t, "Dockerfile"), finalStage(t, "Dockerfile.release")
	if strings.Join(source, "\n") != strings.Join(release, "\n") {
		t.Errorf("the final stages differ:\nDockerfile:\n%s\n\nDockerfile.release:\n%s", strings.Join(source, "\n"), strings.Join(release, "\n"))
	}
	stage := strings.Join(source, "\n")
	for _, label := range []string{
		`org.opencontainers.image.version="$VERSION"`, `org.opencontainers.image.revision="$COMMIT"`,
		`org.opencontainers.image.source="https://github.com/glpwinner/glp-sidecar"`, `org.opencontainers.image.licenses="Apache-2.0"`,
	} {
		if !strings.Contains(stage, label) {
			t.Errorf("the image lacks the label %s", label)
		}
	}
	if !strings.HasPrefix(stage, "FROM scratch\n") || !strings.Contains(stage, "\nARG VERSION=dev\nARG COMMIT=unknown\n") {
		t.Errorf("the final stage must start FROM scratch and declare VERSION and COMMIT for its labels:\n%s", stage)
	}
	// HEALTHCHECK … CMD ["/sidecar", "healthcheck"]: exec form, a JSON array, no shell.
	var check []string
	for _, ins := range source {
		if strings.HasPrefix(ins, "HEALTHCHECK ") {
			_, form, _ := strings.Cut(ins, " CMD ")
			if err := json.Unmarshal([]byte(form), &check); err != nil {
				t.Errorf("HEALTHCHECK's command %q is not exec form (a JSON array): the image has no shell to run it", form)
			}
		}
	}
	if strings.Join(check, " ") != "/sidecar healthcheck" {
		t.Errorf("HEALTHCHECK runs %q, want /sidecar healthcheck", check)
	}
	for _, file := range []string{"compose.yaml", "compose.real.yaml", "compose.postgres.yaml"} {
		for name, svc := range readCompose(t, file).Services {
			test := svc.Healthcheck.Test
			if strings.Contains(svc.Image, "glp-sidecar") && (len(test) < 2 || test[0] != "CMD" || test[1] != "/sidecar") {
				t.Errorf("%s: %s's health check %q must be [\"CMD\", \"/sidecar\", …]: the image has no shell", file, name, test)
			}
		}
	}
}
