package postgres_test

import (
	"github.com/glpwinner/glp-sidecar/internal/logtest"
	"log/slog"
	neturl "net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/glpwinner/glp-sidecar/internal/pgtest"
	"github.com/glpwinner/glp-sidecar/postgres"
)

// syncBuffer is a log's output that tests read while the store writes.
type syncBuffer = logtest.Buffer

// TestSynchronousCommitOffIsWarnedAtStart: with ALTER DATABASE … SET
// synchronous_commit = off, a committed accept can be lost in a database
// crash; the store says so once at start, naming the setting and never the
// password. With the default (on) it says nothing.
func TestSynchronousCommitOffIsWarnedAtStart(t *testing.T) {
	for _, off := range []bool{false, true} {
		url := pgtest.URL(t)
		u, _ := neturl.Parse(url)
		password, _ := u.User.Password()
		if off {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" SET synchronous_commit = off")
			conn.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
		}
		var logs syncBuffer
		open(t, postgres.Options{URL: url, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		warned := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "synchronous_commit") {
				warned++
			}
		}
		if off && (warned != 1 || !strings.Contains(logs.String(), "crash")) {
			t.Errorf("synchronous_commit off: %d warnings naming it, want 1 that says a 202 could be lost in a crash:\n%s", warned, logs.String())
		}
		if !off && warned != 0 {
			t.Errorf("synchronous_commit on: warned anyway:\n%s", logs.String())
		}
		if password != "" && strings.Contains(logs.String(), password) {
			t.Errorf("the log holds the database password:\n%s", logs.String())
		}
	}
}

// TestAnUnverifiedTLSModeToARemoteHostIsWarned reads parsed URLs only: no
// connection is made, no name resolved.
func TestAnUnverifiedTLSModeToARemoteHostIsWarned(t *testing.T) {
	t.Setenv("PGSSLMODE", "")
	t.Setenv("PGSSLROOTCERT", "")
	for _, tc := range []struct {
		url      string
		host     string // "" when no warning is due
		wantMode string
	}{
		{"postgres://glp:s3cret@db.example.com:5432/glp", "db.example.com", "prefer"},
		{"postgres://glp:s3cret@db.example.com/glp?sslmode=require", "db.example.com", "require"},
		{"postgres://glp:s3cret@10.0.0.5/glp?sslmode=disable", "10.0.0.5", "disable"},
		{"postgres://glp:s3cret@127.0.0.1:5432,db.example.com:5432/glp?sslmode=prefer", "db.example.com", "prefer"},
		{"postgres://glp:s3cret@db.example.com/glp?sslmode=verify-full", "", "verify-full"},
		{"postgres://glp:s3cret@db.example.com/glp?sslmode=verify-ca", "", "verify-ca"},
		{"postgres://glp:s3cret@127.0.0.1/glp?sslmode=disable", "", "disable"},
		{"postgres://glp:s3cret@localhost/glp", "", "prefer"},
		{"postgres://glp:s3cret@[::1]:5432/glp?sslmode=disable", "", "disable"},
		{"postgres://glp@/glp?host=/var/run/postgresql", "", "prefer"},
	} {
		cfg, err := pgconn.ParseConfig(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		host, mode, unverified := postgres.UnverifiedTLS(*cfg, tc.url)
		if unverified != (tc.host != "") || host != tc.host || mode != tc.wantMode {
			t.Errorf("%s: warn %v about %q (sslmode %s), want %v about %q (sslmode %s)", tc.url, unverified, host, mode, tc.host != "", tc.host, tc.wantMode)
		}
	}
	t.Setenv("PGSSLMODE", "verify-full") // libpq's variable, which pgx reads too
	cfg, _ := pgconn.ParseConfig("postgres://glp:s3cret@db.example.com/glp")
	if _, _, unverified := postgres.UnverifiedTLS(*cfg, "postgres://glp:s3cret@db.example.com/glp"); unverified {
		t.Error("PGSSLMODE=verify-full: warned anyway")
	}
}
