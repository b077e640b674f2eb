package docker_test

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// manifest reads every document of the Kubernetes manifest by kind.
func manifest(t *testing.T) map[string]map[string]any {
	t.Helper()
	f, err := os.Open("../deploy/kubernetes/sidecar.yaml")
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

// TestTheManifestProbesWhatTheSiteNeedsAndTargetsANumericPort holds the
// manifest to issue 24: readiness is /readyz on the admin port (which a
// paused relay never fails), liveness and start-up are /healthz, and the
// Service's targetPort is the sidecar's public port as a number, because a
// port name declared only on an init container resolves in Services from
// Kubernetes 1.32 on, and the manifest says 1.29+.
func TestTheManifestProbesWhatTheSiteNeedsAndTargetsANumericPort(t *testing.T) {
	docs := manifest(t)
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
	header := manifestHeader(t)
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
}

func manifestHeader(t *testing.T) string {
	b, err := os.ReadFile("../deploy/kubernetes/sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "apiVersion:")
	return head
}

// TestComposePublishesTheAdminAndTheMockOnLoopbackOnly: the admin shows
// patients' emails and the mock its clicks and conversions; only the public
// listener is for the network.
func TestComposePublishesTheAdminAndTheMockOnLoopbackOnly(t *testing.T) {
	for _, file := range []string{"compose.yaml", "compose.real.yaml"} {
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
