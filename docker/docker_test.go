// Package docker_test checks the packaging files that CI cannot run (there
// is no Docker engine or cluster here): they parse, and they say what the
// sidecar needs.
package docker_test

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/glpwinner/glp-sidecar/config"
)

// knownVars are the GLP_ variables the sidecar reads.
func knownVars() map[string]bool {
	known := map[string]bool{}
	for _, spec := range []any{config.Config{}, config.MockConfig{}} {
		t := reflect.TypeOf(spec)
		for i := 0; i < t.NumField(); i++ {
			if name := t.Field(i).Tag.Get("envconfig"); name != "" {
				known[config.Prefix+"_"+name] = true
			}
		}
	}
	return known
}

type compose struct {
	Services map[string]struct {
		Build       any               `yaml:"build"`
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Secrets     []string          `yaml:"secrets"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func readCompose(t *testing.T, path string) compose {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func TestComposeRunsTheSidecarBesideAnAppAndTheMock(t *testing.T) {
	known := knownVars()
	for _, tc := range []struct {
		file     string
		services []string
		apiURL   string
	}{
		{"compose.yaml", []string{"app", "mock", "sidecar"}, "http://mock:8788"},
		{"compose.real.yaml", []string{"app", "sidecar"}, "https://www.glpwinner.com"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c := readCompose(t, tc.file)
			if len(c.Services) != len(tc.services) {
				t.Errorf("services %v, want %v", keys(c.Services), tc.services)
			}
			sc, ok := c.Services["sidecar"]
			if !ok {
				t.Fatal("no sidecar service")
			}
			env := sc.Environment
			for k := range env {
				if strings.HasPrefix(k, "GLP_") && !known[k] {
					t.Errorf("%s is not a variable the sidecar reads", k)
				}
			}
			want := map[string]string{"GLP_API_URL": tc.apiURL, "GLP_APP_URL": "http://app:80", "GLP_API_TOKEN_FILE": "/run/secrets/glp_api_token",
				"GLP_INGEST_TOKEN_FILE": "/run/secrets/glp_ingest_token", "GLP_DB_PATH": "/data/glp-sidecar.db"}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			for _, inline := range []string{"GLP_API_TOKEN", "GLP_INGEST_TOKEN"} {
				if _, ok := env[inline]; ok {
					t.Errorf("%s is inline; it belongs in a secret", inline)
				}
			}
			if !reflect.DeepEqual(sc.Secrets, []string{"glp_api_token", "glp_ingest_token"}) || c.Secrets["glp_api_token"].File == "" || c.Secrets["glp_ingest_token"].File == "" {
				t.Errorf("the token secrets: %v %v", sc.Secrets, c.Secrets)
			}
			// The app (your backend) gets the ingest token, never GLP Winner's API token.
			if app := c.Services["app"]; !reflect.DeepEqual(app.Secrets, []string{"glp_ingest_token"}) || app.Environment["GLP_INGEST_TOKEN_FILE"] != "/run/secrets/glp_ingest_token" {
				t.Errorf("the app's secrets %v and GLP_INGEST_TOKEN_FILE %q: it needs the ingest token, and only it", app.Secrets, app.Environment["GLP_INGEST_TOKEN_FILE"])
			}
			if len(sc.Volumes) != 1 || !strings.HasSuffix(sc.Volumes[0], ":/data") || c.Volumes[strings.Split(sc.Volumes[0], ":")[0]] == nil {
				t.Errorf("the outbox needs a named volume on /data: %v", sc.Volumes)
			}
			if strings.Join(sc.Healthcheck.Test, " ") != "CMD /sidecar healthcheck" {
				t.Errorf("sidecar healthcheck %v", sc.Healthcheck.Test)
			}
			for name, dep := range sc.DependsOn {
				if dep.Condition != "service_healthy" {
					t.Errorf("depends on %s: %q, want service_healthy", name, dep.Condition)
				}
				if len(c.Services[name].Healthcheck.Test) == 0 {
					t.Errorf("%s has no health check to wait for", name)
				}
			}
			if len(sc.DependsOn) != len(tc.services)-1 {
				t.Errorf("the sidecar waits for %v", sc.DependsOn)
			}
		})
	}
	if b, err := os.ReadFile("secrets/glp_api_token.txt"); err != nil || string(b) != "test-token" {
		t.Errorf("the demo secret is the mock's token: %q %v", b, err)
	}
	if b, err := os.ReadFile("secrets/glp_ingest_token.txt"); err != nil || !strings.HasPrefix(string(b), "change-me-") || len(b) < config.MinTokenLen {
		t.Errorf("the demo ingest token must say it is one to change, in %d characters at least: %q %v", config.MinTokenLen, b, err)
	}
}

func TestTheKubernetesManifestRunsANativeSidecar(t *testing.T) {
	deployment := manifest(t)["Deployment"]
	if deployment == nil {
		t.Fatal("no Deployment")
	}
	spec := dig(deployment, "spec", "template", "spec").(map[string]any)
	inits := spec["initContainers"].([]any)
	sc := inits[0].(map[string]any)
	if sc["restartPolicy"] != "Always" {
		t.Errorf("restartPolicy %v: a native sidecar needs Always", sc["restartPolicy"])
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		if got := dig(sc, probe, "httpGet", "path"); got != path || dig(sc, probe, "httpGet", "port") != "admin" {
			t.Errorf("%s: %v on %v", probe, got, dig(sc, probe, "httpGet", "port"))
		}
	}
	env := map[string]any{}
	known := knownVars()
	for _, e := range sc["env"].([]any) {
		m := e.(map[string]any)
		name := m["name"].(string)
		if !known[name] {
			t.Errorf("%s is not a variable the sidecar reads", name)
		}
		env[name] = m
	}
	if env["GLP_API_TOKEN"] != nil || env["GLP_API_TOKEN_FILE"] == nil {
		t.Error("the token must come from the Secret, as a file")
	}
	if env["GLP_ADMIN_TOKEN"] != nil || env["GLP_ADMIN_TOKEN_FILE"] == nil {
		t.Error("the admin token must come from the Secret, as a file")
	}
	if env["GLP_INGEST_TOKEN"] != nil || env["GLP_INGEST_TOKEN_FILE"] == nil {
		t.Error("the ingest token must come from the Secret, as a file")
	}
	app := spec["containers"].([]any)[0].(map[string]any)
	var appIngest bool
	for _, e := range app["env"].([]any) {
		appIngest = appIngest || e.(map[string]any)["name"] == "GLP_INGEST_TOKEN_FILE"
	}
	if !appIngest {
		t.Error("the app needs GLP_INGEST_TOKEN_FILE to make server calls")
	}
	if env["GLP_SHUTDOWN_DELAY"] == nil {
		t.Error("no drain delay")
	}
	var data map[string]any
	for _, v := range spec["volumes"].([]any) {
		if v.(map[string]any)["name"] == "glp-data" {
			data = v.(map[string]any)
		}
	}
	claim, _ := dig(data, "persistentVolumeClaim", "claimName").(string)
	if claim == "" {
		t.Fatalf("the outbox volume: %v, want a claim that outlives the pod", data)
	}
	pvc := manifest(t)["PersistentVolumeClaim"]
	if pvc == nil || dig(pvc, "metadata", "name") != claim || fmt.Sprint(dig(pvc, "spec", "accessModes")) != "[ReadWriteOnce]" {
		t.Errorf("the claim %s: %v, want it in the manifest, ReadWriteOnce", claim, pvc)
	}
	if n, _ := dig(deployment, "spec", "replicas").(int); n != 1 || dig(deployment, "spec", "strategy", "type") != "Recreate" {
		t.Errorf("replicas %v, strategy %v: one SQLite file has one writer (1, Recreate); several replicas use the fleet manifest",
			dig(deployment, "spec", "replicas"), dig(deployment, "spec", "strategy", "type"))
	}
}

func TestTheDockerfileBuildsWithTheSharedScriptIntoAnEmptyImage(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"RUN sh scripts/build-static.sh", "FROM scratch", "USER 65532:65532", `VOLUME ["/data"]`, "SQLITE_TMPDIR=/data",
		`HEALTHCHECK`, `CMD ["/sidecar", "healthcheck"]`, "ca-certificates.crt", "--chown=65532:65532 /out/data /data",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?m)^#\s*syntax\s*=`).MatchString(df) {
		t.Error("a BuildKit syntax line fetches a frontend from a registry")
	}
}

func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
