package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/internal/seal"
)

// mockConversionsByOrder reads the mock's conversions by the provider's conversion id.
func mockConversionsByOrder(t *testing.T, mock string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, c := range mockConversions(t, mock) {
		id, _ := c["external_id"].(string)
		out[id] = c
	}
	return out
}

// sentFields is the admin API's sent_fields of an event.
func sentFields(t *testing.T, admin, id string) string {
	t.Helper()
	_, out, _ := call(t, "GET", admin+"/admin/api/events/"+id, "", "")
	ev, _ := out["event"].(map[string]any)
	b, _ := json.Marshal(ev["sent_fields"])
	return string(b)
}

// openSession logs a landing at the mock's session service with an email,
// as GLP Winner's SDK does: a click a soft match can find.
func openSession(t *testing.T, mock, clickID, email string) {
	t.Helper()
	code, _, body := do(t, "POST", mock+"/api/track/v1/session", map[string]string{"Content-Type": "application/json"},
		`{"providerId":123,"glp_click_id":"`+clickID+`","email":"`+email+`"}`)
	if code != 201 {
		t.Fatalf("session: %d %s", code, body)
	}
}

func TestAClickIDEventGoesUpstreamWithoutEmailAndIPAndASoftMatchedOneWithIt(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	openSession(t, s.mock, "landed-1", "soft.patient@example.com")
	direct := s.convert(t, `{"glpClickId":"direct-1","email":"direct.patient@example.com","ip":"198.51.100.8","conversion_id":"D-1"}`)
	soft := s.convert(t, `{"email":"soft.patient@example.com","ip":"198.51.100.7","conversion_id":"S-1"}`)
	got := mockConversionsByOrder(t, s.mock)
	if c := got["D-1"]; c == nil || c["email"] != "" || c["ip"] != "" || c["method"] != "inferred" {
		t.Errorf("the click-id event reached GLP Winner as %v: want no email and no ip", c)
	}
	if c := got["S-1"]; c == nil || c["email"] != "soft.patient@example.com" || c["ip"] != "198.51.100.7" || c["method"] != "soft_email" {
		t.Errorf("the soft-matched event reached GLP Winner as %v: want its email and ip", c)
	}
	if f := sentFields(t, s.admin, direct); f != `["transaction_id","conversion_id"]` {
		t.Errorf("the admin API says the click-id event sent %s", f)
	}
	if f := sentFields(t, s.admin, soft); f != `["email","ip","conversion_id"]` {
		t.Errorf("the admin API says the soft-matched event sent %s", f)
	}
}

// writeKey writes a new key file and returns its path and key.
func writeKey(t *testing.T, form func(seal.Key) string) (string, seal.Key) {
	t.Helper()
	k := seal.NewKey()
	path := filepath.Join(t.TempDir(), "data.key")
	if err := os.WriteFile(path, []byte(form(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, k
}

func hexKey(k seal.Key) string { return hex.EncodeToString(k[:]) }

func TestWithAKeyFileTheFilesHoldNoPersonalDataTheSameEventsAreDeliveredAndAnotherKeyIsRefused(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			var where []string // the store's variable, for the sidecar and the restarts
			var raw func() []byte
			if store == "postgres" {
				url := pgtest.URL(t)
				where = []string{"GLP_DB_URL=" + url}
				raw = func() []byte { // the database as a backup holds it
					out, err := exec.Command(pgDump(), "--data-only", url).Output()
					if err != nil {
						t.Fatalf("pg_dump: %v", err)
					}
					return out
				}
			}
			sealedServe(t, where, raw)
		})
	}
}

// pgDump is PostgreSQL's pg_dump: on the PATH, else Debian's.
func pgDump() string {
	if p, err := exec.LookPath("pg_dump"); err == nil {
		return p
	}
	return "/usr/lib/postgresql/15/bin/pg_dump"
}

// sealedServe runs a real sidecar serve with a key file on the store that
// where names (the SQLite file when empty), and checks that raw (the file,
// its WAL, SHM and journal when nil) holds none of the personal values
// while the same events are delivered, and that another key, or none, is
// refused at start.
func sealedServe(t *testing.T, where []string, raw func() []byte) {
	const (
		email, softEmail = "sealed.patient@example.com", "sealed.soft@example.com"
		ip, session      = "203.0.113.99", "sess-SEALED-123"
		agent            = "SealedAgent/4.2 (unique)"
	)
	keyFile, key := writeKey(t, hexKey)
	s := startStack(t, append([]string{"GLP_DATA_KEY_FILE=" + keyFile}, where...)...)
	if raw == nil {
		raw = func() []byte {
			var all []byte
			for _, f := range []string{s.db, s.db + "-wal", s.db + "-shm", s.db + "-journal"} {
				b, _ := os.ReadFile(f)
				all = append(all, b...)
			}
			return all
		}
	}
	code, _, _ := get(t, s.public+"/landing?glp_click_id=sealed-click-1", map[string]string{"User-Agent": agent, "Referer": "https://referrer.example/page"})
	if code != 404 {
		t.Fatalf("landing: %d", code)
	}
	openSession(t, s.mock, "sealed-landed", softEmail)
	direct := s.convert(t, `{"glpClickId":"sealed-click-1","email":"`+email+`","ip":"`+ip+`","session_token":"`+session+`","conversion_id":"K-1"}`)
	s.convert(t, `{"email":"`+softEmail+`","ip":"`+ip+`","conversion_id":"K-2"}`)
	got := mockConversionsByOrder(t, s.mock)
	if c := got["K-1"]; c == nil || c["method"] != "inferred" || c["email"] != "" || c["ip"] != "" {
		t.Errorf("the click-id event reached GLP Winner as %v", c)
	}
	if c := got["K-2"]; c == nil || c["method"] != "soft_email" || c["email"] != softEmail || c["ip"] != ip {
		t.Errorf("the soft-matched event reached GLP Winner as %v: the relay must open what the outbox sealed", c)
	}
	// Every part reads through the key: the admin API shows the values.
	_, out, _ := call(t, "GET", s.admin+"/admin/api/events/"+direct, "", "")
	if b, _ := json.Marshal(out); !bytes.Contains(b, []byte(email)) || !bytes.Contains(b, []byte(session)) {
		t.Errorf("the admin API shows the event as %s", b)
	}
	waitFor(t, func() bool {
		_, list, _ := call(t, "GET", s.admin+"/admin/api/clicks", "", "")
		b, _ := json.Marshal(list)
		return bytes.Contains(b, []byte(agent)) && bytes.Contains(b, []byte("referrer.example"))
	})
	b := raw()
	if !bytes.Contains(b, []byte("sealed-click-1")) {
		t.Fatal("the click id is not in the store's bytes: the test would prove nothing")
	}
	for _, v := range []string{email, softEmail, ip, session, agent, "referrer.example"} {
		if bytes.Contains(b, []byte(v)) {
			t.Errorf("%q is in the raw bytes of the store (the file, its WAL, SHM and journal; pg_dump)", v)
		}
	}
	if bytes.Contains(b, []byte(hexKey(key))) || bytes.Contains(b, key[:]) {
		t.Error("the file key is in the outbox")
	}
	s.sidecar.cmd.Process.Kill()
	s.sidecar.cmd.Wait()

	// Another key, or none, is refused at start, naming fingerprints only.
	otherFile, other := writeKey(t, hexKey)
	for _, env := range [][]string{{"GLP_DATA_KEY_FILE=" + otherFile}, nil} {
		status, stderr := runToExit(t, serveEnv(t, append(append([]string{"GLP_DB_PATH=" + s.db}, where...), env...)...), "serve")
		if status != 2 || !strings.Contains(stderr, "GLP_DATA_KEY_FILE") || !strings.Contains(stderr, key.Fingerprint()) {
			t.Errorf("serve with key file %v: exit %d, %s", env, status, stderr)
		}
		if strings.Contains(stderr, hexKey(key)) || strings.Contains(stderr, hexKey(other)) {
			t.Errorf("a key is in the error: %s", stderr)
		}
	}
}

func TestMigrateCarriesTheDataKeysSoThatSealedEventsOpenInPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	k := seal.NewKey()
	file, err := openStore(ctx, storeOptions{Path: path, Key: &k})
	if err != nil {
		t.Fatal(err)
	}
	app, err := file.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: "mig-1", Email: "migrated@example.com"}})
	file.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateOutbox(ctx, path, url, printer{w: io.Discard}); err != nil {
		t.Fatal(err)
	}
	pg, err := openStore(ctx, storeOptions{URL: url, Key: &k})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if e, _, err := pg.Get(ctx, app.ID); err != nil || e.Conversion.Email != "migrated@example.com" {
		t.Fatalf("the migrated event reads %+v, %v", e.Conversion, err)
	}
}

func TestTheCLIsChangesAreInTheAuditAsTheOperatorsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	box, err := openStore(ctx, storeOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	app, err := box.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: "cli-1", Email: "cli.patient@example.com"}})
	box.Close()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"GLP_DB_PATH=" + path}
	if _, err := sidecarCmd(t, env, "outbox", "retry", app.ID).CombinedOutput(); err == nil {
		t.Fatal("retrying a queued event succeeded")
	}
	if out, err := sidecarCmd(t, env, "outbox", "purge", "--older-than", "1h").CombinedOutput(); err != nil {
		t.Fatalf("purge: %v %s", err, out)
	}
	out, err := sidecarCmd(t, env, "audit", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	json.Unmarshal(out, &lines)
	var got []string
	for _, l := range lines {
		user, _ := l["user"].(string)
		got = append(got, fmt.Sprintf("%v %v %v %v", strings.HasPrefix(user, "cli:") && len(user) > 4, l["action"], l["target"], l["status"]))
	}
	want := []string{"true outbox.retry events " + app.ID + " 1", "true outbox.purge finished before 1h0m0s ago 0"}
	if strings.Join(got, "|") != strings.Join(want, "|") || bytes.Contains(out, []byte("cli.patient")) {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
