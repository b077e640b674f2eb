package docker_test

import (
	"errors"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/glpwinner/glp-sidecar/config"
)

func TestTheComposeFleetKeepsItsOutboxInPostgreSQLWithThePasswordInASecret(t *testing.T) {
	c := readCompose(t, "compose.postgres.yaml")
	pg, ok := c.Services["postgres"]
	if !ok || pg.Image != "postgres:16" || len(pg.Healthcheck.Test) == 0 {
		t.Fatalf("the postgres service: %+v", pg)
	}
	if pg.Environment["POSTGRES_PASSWORD"] != "" || pg.Environment["POSTGRES_PASSWORD_FILE"] == "" {
		t.Error("PostgreSQL's password must come from a secret file")
	}
	known := knownVars()
	sidecars := 0
	for name, sc := range c.Services {
		if len(sc.Command) == 0 || sc.Command[0] != "serve" {
			continue
		}
		sidecars++
		for k := range sc.Environment {
			if strings.HasPrefix(k, "GLP_") && !known[k] {
				t.Errorf("%s: %s is not a variable the sidecar reads", name, k)
			}
		}
		u, err := url.Parse(sc.Environment["GLP_DB_URL"])
		if err != nil || u.Scheme != "postgres" || u.Host != "postgres:5432" {
			t.Errorf("%s: GLP_DB_URL %q names no postgres service", name, sc.Environment["GLP_DB_URL"])
		} else if _, has := u.User.Password(); has {
			t.Errorf("%s: the database password is in GLP_DB_URL; it belongs in a secret", name)
		}
		passfile := sc.Environment["PGPASSFILE"]
		if !strings.HasPrefix(passfile, "/run/secrets/") || !contains(sc.Secrets, strings.TrimPrefix(passfile, "/run/secrets/")) {
			t.Errorf("%s: PGPASSFILE %q is not one of its secrets %v", name, passfile, sc.Secrets)
		}
		if sc.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s does not wait for PostgreSQL to be healthy", name)
		}
		if _, set := sc.Environment["GLP_DB_PATH"]; set || len(sc.Volumes) != 0 {
			t.Errorf("%s keeps a SQLite file beside PostgreSQL: %v %v", name, sc.Environment["GLP_DB_PATH"], sc.Volumes)
		}
	}
	if sidecars < 2 {
		t.Errorf("%d sidecars: the fleet file shows two on one database", sidecars)
	}
	pass, err := os.ReadFile("secrets/pgpass")
	pw, err2 := os.ReadFile("secrets/postgres_password.txt")
	if err != nil || err2 != nil || !strings.HasSuffix(strings.TrimSpace(string(pass)), ":glp:glp:"+string(pw)) {
		t.Errorf("the sidecars' password file does not match PostgreSQL's password: %q %q %v %v", pass, pw, err, err2)
	}
}

// TestTheComposeFleetsSidecarsStart loads each sidecar's environment of
// compose.postgres.yaml, its secrets read from docker/secrets, as the
// sidecar would at start: the file once had a 9-character admin token,
// which the sidecar refuses, so it never started.
func TestTheComposeFleetsSidecarsStart(t *testing.T) {
	c := readCompose(t, "compose.postgres.yaml")
	for name, sc := range c.Services {
		if len(sc.Command) == 0 || sc.Command[0] != "serve" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			for k, v := range sc.Environment {
				if secret, ok := strings.CutPrefix(v, "/run/secrets/"); ok {
					v = c.Secrets[secret].File
				}
				t.Setenv(k, v)
			}
			if _, err := config.Load(); err != nil {
				t.Errorf("the sidecar refuses its environment: %v", err)
			}
		})
	}
}

func TestTheFleetManifestTakesTheDatabaseURLFromTheSecretAndKeepsNoDisk(t *testing.T) {
	f, err := os.Open("../deploy/kubernetes/fleet-postgres.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var deployment map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc["kind"] == "Deployment" {
			deployment = doc
		}
	}
	if deployment == nil {
		t.Fatal("no Deployment")
	}
	if n, _ := dig(deployment, "spec", "replicas").(int); n < 2 {
		t.Errorf("replicas %v: the fleet manifest is for several", dig(deployment, "spec", "replicas"))
	}
	spec := dig(deployment, "spec", "template", "spec").(map[string]any)
	sc := spec["initContainers"].([]any)[0].(map[string]any)
	if sc["restartPolicy"] != "Always" {
		t.Errorf("restartPolicy %v: a native sidecar needs Always", sc["restartPolicy"])
	}
	known := knownVars()
	env := map[string]map[string]any{}
	for _, e := range sc["env"].([]any) {
		m := e.(map[string]any)
		name := m["name"].(string)
		if !known[name] {
			t.Errorf("%s is not a variable the sidecar reads", name)
		}
		env[name] = m
	}
	if db := env["GLP_DB_URL"]; db == nil || db["value"] != nil || dig(db, "valueFrom", "secretKeyRef", "key") != "db-url" {
		t.Errorf("GLP_DB_URL must come from the Secret: %v", db)
	}
	if env["GLP_DB_PATH"] != nil {
		t.Error("GLP_DB_PATH beside GLP_DB_URL")
	}
	for _, v := range spec["volumes"].([]any) {
		if v.(map[string]any)["emptyDir"] != nil {
			t.Errorf("an emptyDir in the fleet manifest: %v; the outbox is in PostgreSQL", v)
		}
	}
	if dig(sc, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Error("no readiness probe on /readyz")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
