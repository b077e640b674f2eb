package docker_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// manifests are the Kubernetes manifests shipped: one pod with its file,
// and the fleet on PostgreSQL.
var manifests = []string{"../deploy/kubernetes/sidecar.yaml", "../deploy/kubernetes/fleet-postgres.yaml"}

// manifest reads every document of the single-pod Kubernetes manifest by kind.
func manifest(t *testing.T) map[string]map[string]any {
	t.Helper()
	return manifestAt(t, manifests[0])
}

// manifestAt reads every document of the manifest at path by kind.
func manifestAt(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs := map[string]map[string]any{}
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		kind, _ := doc["kind"].(string)
		docs[kind] = doc
	}
	return docs
}

// TestTheManifestProbesWhatTheSiteNeedsAndTargetsANumericPort holds both
// manifests to their promise: readiness is /readyz on the admin port (which a
// paused relay never fails), liveness and start-up are /healthz, and the
// Service's targetPort is the sidecar's public port as a number, because a
// port name declared only on an init container resolves in Services from
// Kubernetes 1.32 on, and the manifests say 1.29+. The app is given the
// ingest token (without it, the fleet's app could make no server call).
func TestTheManifestProbesWhatTheSiteNeedsAndTargetsANumericPort(t *testing.T) {
	for _, path := range manifests {
		t.Run(filepath.Base(path), func(t *testing.T) { checkManifest(t, path) })
	}
}

func checkManifest(t *testing.T, path string) {
	docs := manifestAt(t, path)
	dep, svc := docs["Deployment"], docs["Service"]
	if dep == nil || svc == nil {
		t.Fatalf("want a Deployment and a Service, got %v", keys(docs))
	}
	spec := dig(dep, "spec", "template", "spec").(map[string]any)
	sc := spec["initContainers"].([]any)[0].(map[string]any)
	ports := map[string]int{}
	for _, p := range sc["ports"].([]any) {
		m := p.(map[string]any)
		ports[m["name"].(string)], _ = m["containerPort"].(int)
	}
	if ports["admin"] == 0 || ports["public"] == 0 {
		t.Fatalf("sidecar ports %v: want admin and public", ports)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"} {
		got := dig(sc, probe, "httpGet", "path")
		port := dig(sc, probe, "httpGet", "port")
		if got != path || (port != "admin" && port != ports["admin"]) {
			t.Errorf("%s: %v on port %v, want %s on the admin port", probe, got, port, path)
		}
	}
	header := manifestHeader(t, path)
	if !strings.Contains(header, "1.29+") {
		t.Errorf("the manifest no longer says which Kubernetes it needs; a named targetPort on a native sidecar needs 1.32")
	}
	svcPorts := dig(svc, "spec", "ports").([]any)
	for _, p := range svcPorts {
		target := p.(map[string]any)["targetPort"]
		n, numeric := target.(int)
		if !numeric {
			t.Errorf("Service targetPort %v is a name: on Kubernetes before 1.32 it does not resolve to a port of a native sidecar", target)
			continue
		}
		if n != ports["public"] {
			t.Errorf("Service targetPort %d, want the sidecar's public port %d", n, ports["public"])
		}
	}
	if !hasEnv(sc, "GLP_INGEST_TOKEN_FILE") {
		t.Error("the sidecar has no GLP_INGEST_TOKEN_FILE: the app's calls could never be server calls")
	}
	app := spec["containers"].([]any)[0].(map[string]any)
	if !hasEnv(app, "GLP_INGEST_TOKEN_FILE") {
		t.Error("the app has no GLP_INGEST_TOKEN_FILE: it needs the ingest token to make server calls")
	}
	if !mounts(spec, app, "ingest-token") {
		t.Error("no volume of the app's holds the Secret's ingest-token")
	}
}

// hasEnv reports whether container c sets the variable name.
func hasEnv(c map[string]any, name string) bool {
	env, _ := c["env"].([]any)
	for _, e := range env {
		if e.(map[string]any)["name"] == name {
			return true
		}
	}
	return false
}

// mounts reports whether container c mounts a secret volume of the pod
// spec that holds key.
func mounts(spec, c map[string]any, key string) bool {
	mounted := map[string]bool{}
	vm, _ := c["volumeMounts"].([]any)
	for _, m := range vm {
		mounted[m.(map[string]any)["name"].(string)] = true
	}
	vols, _ := spec["volumes"].([]any)
	for _, v := range vols {
		vol := v.(map[string]any)
		items, _ := dig(vol, "secret", "items").([]any)
		for _, it := range items {
			if mounted[vol["name"].(string)] && it.(map[string]any)["key"] == key {
				return true
			}
		}
	}
	return false
}

func manifestHeader(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "apiVersion:")
	return head
}

// TestComposePublishesTheAdminAndTheMockOnLoopbackOnly: the admin shows
// patients' emails and the mock its clicks and conversions; only the public
// listener is for the network. It reads every Compose file in docker/
// (compose.postgres.yaml was once left out, and published both).
func TestComposePublishesTheAdminAndTheMockOnLoopbackOnly(t *testing.T) {
	files, err := filepath.Glob("compose*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("Compose files %v (%v): want compose.yaml, compose.real.yaml and compose.postgres.yaml at least", files, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Services map[string]struct {
				Ports       []string          `yaml:"ports"`
				Environment map[string]string `yaml:"environment"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for name, s := range c.Services {
			for _, p := range s.Ports {
				parts := strings.Split(p, ":")
				container := parts[len(parts)-1]
				public := container == "8787"
				if !public && (len(parts) != 3 || parts[0] != "127.0.0.1") {
					t.Errorf("%s: %s publishes %q on every interface; bind it to 127.0.0.1", file, name, p)
				}
			}
			if tok, ok := s.Environment["GLP_ADMIN_TOKEN"]; ok && !strings.HasPrefix(tok, "${") && len(tok) < 16 {
				t.Errorf("%s: %s's admin token has %d characters; the sidecar refuses fewer than 16", file, name, len(tok))
			}
		}
	}
}
