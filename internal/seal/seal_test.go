package seal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/internal/seal"
	"github.com/glpwinner/glp-sidecar/postgres"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The personal values the tests look for in the raw bytes.
const (
	email   = "patient.secret@example.com"
	ip      = "203.0.113.77"
	session = "sess-SECRET-4242"
	agent   = "Mozilla/5.0 AgentSECRET"
	ref     = "https://referrer-secret.example/"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

type kind struct {
	name string
	open func(t *testing.T, now func() time.Time) (seal.Inner, func() []byte)
}

// stores opens each store for the test: the SQLite file (its raw bytes: the
// file, its WAL and journal) and PostgreSQL (its raw bytes: pg_dump).
func stores() []kind {
	return []kind{
		{"sqlite", func(t *testing.T, now func() time.Time) (seal.Inner, func() []byte) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			o, err := sqlite.Open(sqlite.Options{Path: path, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { o.Close() })
			return o, func() []byte {
				var all []byte
				for _, suffix := range []string{"", "-wal", "-journal", "-shm"} {
					b, _ := os.ReadFile(path + suffix)
					all = append(all, b...)
				}
				return all
			}
		}},
		{"postgres", func(t *testing.T, now func() time.Time) (seal.Inner, func() []byte) {
			url := pgtest.URL(t)
			s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, func() []byte {
				out, err := exec.Command(pgDump(), "--data-only", url).Output()
				if err != nil {
					t.Fatalf("pg_dump: %v", err)
				}
				return out
			}
		}},
	}
}

// sealedStore opens the store of kind k at a settable time, sealed with a
// new key.
func sealedStore(t *testing.T, k kind) (*clock, seal.Inner, func() []byte, seal.Key, *seal.Store) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	inner, raw := k.open(t, clk.Now)
	key := seal.NewKey()
	s, err := seal.Wrap(context.Background(), inner, seal.Options{Key: key, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return clk, inner, raw, key, s
}

func pgDump() string {
	if p, err := exec.LookPath("pg_dump"); err == nil {
		return p
	}
	return "/usr/lib/postgresql/15/bin/pg_dump"
}

func TestWithAKeyNoPersonalValueIsInTheStoresBytesAndEveryPartReadsThemBack(t *testing.T) {
	for _, k := range stores() {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			clk, inner, raw, key, s := sealedStore(t, k)
			app, err := s.Append(ctx, sidecar.NewEvent{Key: "order-1", Conversion: sidecar.Conversion{SessionToken: session, Email: email, IP: ip, ConversionID: "order-1"}})
			if err != nil {
				t.Fatal(err)
			}
			click := sidecar.Click{ClickID: "clk-1", At: clk.Now(), IP: ip, UserAgent: agent, Referrer: ref, Path: "/landing", TopLevel: true}
			if err := s.RecordClick(ctx, click); err != nil {
				t.Fatal(err)
			}
			if b := raw(); len(b) == 0 {
				t.Fatal("no raw bytes read")
			} else {
				if bytes.Contains(b, key[:]) {
					t.Error("the file key is in the store")
				}
				for _, secret := range []string{email, ip, session, agent, "referrer-secret", sidecar.AddressRange(ip)} {
					if bytes.Contains(b, []byte(secret)) {
						t.Errorf("%q is in the store's raw bytes", secret)
					}
				}
			}
			// The relay, the admin API and the local match read through it.
			claimed, err := s.Claim(ctx, 10, time.Minute)
			if err != nil || len(claimed) != 1 || claimed[0].Conversion.Email != email || claimed[0].Conversion.IP != ip || claimed[0].Conversion.SessionToken != session {
				t.Fatalf("claimed %+v, %v", claimed, err)
			}
			if e, _, err := s.Get(ctx, app.ID); err != nil || e.Conversion.Email != email {
				t.Fatalf("get: %+v, %v", e.Conversion, err)
			}
			if id, ok, err := s.MatchClick(ctx, ip, agent, clk.Now().Add(-48*time.Hour)); err != nil || !ok || id != "clk-1" {
				t.Fatalf("local match: %q %v %v", id, ok, err)
			}
			if _, ok, _ := s.MatchClick(ctx, ip, "another agent", clk.Now().Add(-time.Hour)); ok {
				t.Fatal("matched another user agent")
			}
			// Browser calls are corroborated by the opened addresses of a click's landings.
			if from, err := s.ClickLandedFrom(ctx, "clk-1", clk.Now().Add(-time.Hour)); err != nil || len(from) != 1 || from[0] != ip {
				t.Fatalf("landed from %q, %v", from, err)
			}
			if clicks, err := s.Clicks(ctx, 10); err != nil || len(clicks) != 1 || clicks[0].IP != ip || clicks[0].UserAgent != agent || clicks[0].Referrer != ref {
				t.Fatalf("clicks %+v, %v", clicks, err)
			}
			// What the store holds is sealed: read without the key, it is no email.
			if e, _, _ := inner.Get(ctx, app.ID); e.Conversion.Email == email || !strings.HasPrefix(e.Conversion.Email, "g1.") {
				t.Fatalf("the store holds the email as %q", e.Conversion.Email)
			}
		})
	}
}

func TestRetentionDestroysTheDaysKeySoThatItsDataIsUnreadableWithTheFileKey(t *testing.T) {
	for _, k := range stores() {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			clk, inner, raw, key, s := sealedStore(t, k)
			old, _ := s.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: "c-old", Email: email}})
			clk.Add(26 * time.Hour) // the next day
			kept, _ := s.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{ClickID: "c-new", Email: "kept@example.com"}})
			before := raw()
			clk.Add(24 * time.Hour)
			if _, err := s.Retain(ctx, 30*time.Hour); err != nil { // the first day ended more than 30 h ago, the second did not
				t.Fatal(err)
			}
			if e, _, _ := s.Get(ctx, old.ID); e.Conversion.Email != "" || e.Conversion.ClickID != "c-old" {
				t.Fatalf("the old day's event reads %+v after retention", e.Conversion)
			}
			if e, _, _ := s.Get(ctx, kept.ID); e.Conversion.Email != "kept@example.com" {
				t.Fatalf("the kept day's event reads %+v", e.Conversion)
			}
			// A copy taken before retention (a backup, a replica), opened
			// with the file key after it, holds nothing readable: the
			// store that copy is read against has no key for that day.
			sealed, _, _ := inner.Get(ctx, old.ID)
			s2, err := seal.Wrap(ctx, inner, seal.Options{Key: key, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			if v, err := s2.Sealer().Open(ctx, "email", sealed.Conversion.Email); v != "" || err != nil {
				t.Fatalf("the old day's email opens as %q, %v", v, err)
			}
			if len(before) == 0 {
				t.Fatal("no raw bytes")
			}
			keys, _ := inner.DataKeys(ctx)
			if len(keys) != 1 || keys[0].Day != "2026-12-02" {
				t.Fatalf("data keys left: %+v", keys)
			}
		})
	}
}

func TestAnotherKeyIsRefusedNamingFingerprintsAndRotationRewrapsTheDataKeys(t *testing.T) {
	for _, k := range stores() {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			clk, inner, _, key, s := sealedStore(t, k)
			other := seal.NewKey()
			app, _ := s.Append(ctx, sidecar.NewEvent{Conversion: sidecar.Conversion{Email: email}})
			_, err := seal.Wrap(ctx, inner, seal.Options{Key: other, Now: clk.Now})
			if !errors.Is(err, seal.ErrWrongKey) || !strings.Contains(err.Error(), key.Fingerprint()) || !strings.Contains(err.Error(), other.Fingerprint()) {
				t.Fatalf("another key: %v", err)
			}
			if err := seal.CheckUnsealed(ctx, inner); !errors.Is(err, seal.ErrWrongKey) {
				t.Fatalf("no key: %v", err)
			}
			if n, err := seal.Rekey(ctx, inner, key, other); err != nil || n != 1 {
				t.Fatalf("rekey: %d, %v", n, err)
			}
			if _, err := seal.Wrap(ctx, inner, seal.Options{Key: key, Now: clk.Now}); !errors.Is(err, seal.ErrWrongKey) {
				t.Fatalf("the old key after rotation: %v", err)
			}
			s2, err := seal.Wrap(ctx, inner, seal.Options{Key: other, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			if e, _, err := s2.Get(ctx, app.ID); err != nil || e.Conversion.Email != email {
				t.Fatalf("after rotation: %+v, %v", e.Conversion, err)
			}
		})
	}
}

func TestAKeyFileIsReadAsHexOrBase64AndNeverQuoted(t *testing.T) {
	k := seal.NewKey()
	for _, form := range []string{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", "ASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4mrze8=", "ASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4mrze8"} {
		if _, err := seal.ParseKey(form); err != nil {
			t.Errorf("%q: %v", form, err)
		}
	}
	for _, bad := range []string{"", "short", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", "c2VjcmV0LXZhbHVlLXRvby1zaG9ydA=="} {
		_, err := seal.ParseKey(bad)
		if err == nil || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if s := k.String(); strings.Contains(s, string(k[:])) || !strings.Contains(s, k.Fingerprint()) {
		t.Errorf("a key prints as %q", s)
	}
}

// The click log's fairness groups landings by address range; sealed, the
// range is sealed too (no readable part of the address), and still groups:
// a flood from one range trims its own landings, not another range's.
func TestSealedLandingsKeepTheClickLogFairToEveryRange(t *testing.T) {
	for _, k := range stores() {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			clk, _, _, _, s := sealedStore(t, k)
			real := sidecar.Click{ClickID: "real-landing", At: clk.Now(), IP: "198.51.100.9", UserAgent: agent, TopLevel: true}
			if _, err := s.RecordClicks(ctx, []sidecar.Click{real}, 10); err != nil {
				t.Fatal(err)
			}
			for batch := 0; batch < 4; batch++ {
				var flood []sidecar.Click
				for i := 0; i < 10; i++ {
					clk.Add(time.Millisecond)
					flood = append(flood, sidecar.Click{ClickID: fmt.Sprintf("flood-%d-%d", batch, i), At: clk.Now(), IP: fmt.Sprintf("203.0.113.%d", 10+i), UserAgent: agent})
				}
				if _, err := s.RecordClicks(ctx, flood, 10); err != nil {
					t.Fatal(err)
				}
			}
			clicks, err := s.Clicks(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			kept := false
			for _, c := range clicks {
				kept = kept || c.ClickID == "real-landing"
			}
			if !kept || len(clicks) > 11 {
				t.Fatalf("after a flood from one /24, %d clicks kept, the other range's landing among them: %v", len(clicks), kept)
			}
		})
	}
}
