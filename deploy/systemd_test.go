package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/glpwinner/glp-sidecar/config"
)

// unit is a systemd unit file: section → key → values, in order.
type unit map[string]map[string][]string

func readUnit(t *testing.T, name string) unit {
	t.Helper()
	f, err := os.Open(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: %q is not KEY=value in a section", name, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unit) one(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// TestTheSystemdUnitsPassNamedSocketsToAHardenedService holds
// deploy/systemd to SPEC's socket activation: each socket named as serve
// expects and pointing at the service; the service runs serve with its
// outbox in its StateDirectory, secrets as credentials, a stop timeout
// above serve's own, only variables the sidecar reads, and the hardening
// options on. systemd-analyze verify checks the files where it is
// installed.
func TestTheSystemdUnitsPassNamedSocketsToAHardenedService(t *testing.T) {
	for file, name := range map[string]string{"glp-sidecar.socket": "public", "glp-sidecar-admin.socket": "admin"} {
		s := readUnit(t, file)
		if s.one("Socket", "FileDescriptorName") != name || s.one("Socket", "Service") != "glp-sidecar.service" || s.one("Socket", "ListenStream") == "" {
			t.Errorf("%s: %v, want a ListenStream named %s for glp-sidecar.service", file, s["Socket"], name)
		}
	}
	svc := readUnit(t, "glp-sidecar.service")
	if exec := svc.one("Service", "ExecStart"); !strings.HasSuffix(exec, "/sidecar serve") {
		t.Errorf("ExecStart=%s, want sidecar serve", exec)
	}
	if !strings.Contains(strings.Join(svc["Unit"]["Requires"], " "), "glp-sidecar.socket") {
		t.Error("the service does not require its public socket")
	}
	for key, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "StateDirectory": "glp-sidecar",
		"ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "UMask": "0077", "KillSignal": "SIGTERM",
	} {
		if got, set := svc["Service"][key]; !set || svc.one("Service", key) != want {
			t.Errorf("%s=%v, want %q", key, got, want)
		}
	}
	stop, err := time.ParseDuration(svc.one("Service", "TimeoutStopSec"))
	if err != nil || stop <= 15*time.Second {
		t.Errorf("TimeoutStopSec=%s: want more than serve's 15 s to answer what it accepted", svc.one("Service", "TimeoutStopSec"))
	}
	known := map[string]bool{}
	ct := reflect.TypeOf(config.Config{})
	for i := range ct.NumField() {
		if n := ct.Field(i).Tag.Get("envconfig"); n != "" {
			known[config.Prefix+"_"+n] = true
		}
	}
	env := map[string]string{}
	for _, e := range svc["Service"]["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
		if strings.HasPrefix(k, "GLP_") && !known[k] {
			t.Errorf("Environment=%s: not a variable the sidecar reads", e)
		}
	}
	if !strings.HasPrefix(env["GLP_DB_PATH"], "%S/glp-sidecar/") {
		t.Errorf("GLP_DB_PATH=%s, want the outbox in the StateDirectory (%%S/glp-sidecar/)", env["GLP_DB_PATH"])
	}
	for _, secret := range []string{"GLP_API_TOKEN", "GLP_INGEST_TOKEN", "GLP_ADMIN_TOKEN"} {
		if env[secret] != "" || !strings.HasPrefix(env[secret+"_FILE"], "%d/") {
			t.Errorf("%s: want it as a credential file (%s_FILE=%%d/…), never in the unit", secret, secret)
		}
	}
	if env["GLP_LISTEN_ADDR"] != "" || env["GLP_ADMIN_ADDR"] != "" {
		t.Error("the addresses are the sockets' ListenStream=, not GLP_LISTEN_ADDR or GLP_ADMIN_ADDR")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no systemd-analyze on this CI machine: .ci/run must install it (apt-get install -y systemd)")
		}
		t.Log("no systemd-analyze (apt-get install -y systemd): the units' syntax is not verified")
		return
	}
	dir := t.TempDir()
	for _, f := range []string{"glp-sidecar.service", "glp-sidecar.socket", "glp-sidecar-admin.socket"} {
		b, err := os.ReadFile(filepath.Join("systemd", f))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/sidecar", "/bin/true")) // verify wants the binary to exist
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	cmd := exec.Command(analyze, "verify", filepath.Join(dir, "glp-sidecar.service"), filepath.Join(dir, "glp-sidecar.socket"), filepath.Join(dir, "glp-sidecar-admin.socket"))
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
