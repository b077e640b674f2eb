package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTheDatabaseURLComesFromTheEnvironmentOrAFile: GLP_DB_URL_FILE keeps
// the password out of the environment and off command lines, for serve and
// for every command on the outbox; its errors name the variable, never the
// URL.
func TestTheDatabaseURLComesFromTheEnvironmentOrAFile(t *testing.T) {
	const url = "postgres://glp:file-secret-pw@db.internal:5432/glp?sslmode=verify-full"
	dir := t.TempDir()
	file := filepath.Join(dir, "db-url")
	if err := os.WriteFile(file, []byte(url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad-url")
	if err := os.WriteFile(bad, []byte("mysql://glp:file-secret-pw@db/glp"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token"}

	environ(t, append(serve, "GLP_DB_URL_FILE="+file))
	if c, err := Load(); err != nil || c.DBURL.Value() != url {
		t.Errorf("serve with GLP_DB_URL_FILE: %v", err)
	}
	if c, err := LoadOutbox(); err != nil || c.DBURL.Value() != url {
		t.Errorf("the outbox commands with GLP_DB_URL_FILE: %v", err)
	}
	environ(t, []string{"GLP_DB_URL=" + url})
	if c, err := LoadOutbox(); err != nil || c.DBURL.Value() != url {
		t.Errorf("the outbox commands with GLP_DB_URL: %v", err)
	}
	for _, tc := range []struct {
		env     []string
		varName string
	}{
		{[]string{"GLP_DB_URL=" + url, "GLP_DB_URL_FILE=" + file}, "GLP_DB_URL_FILE"},
		{[]string{"GLP_DB_URL_FILE=" + filepath.Join(dir, "missing")}, "GLP_DB_URL_FILE"},
		{[]string{"GLP_DB_URL_FILE=" + bad}, "GLP_DB_URL_FILE"},
	} {
		for name, load := range map[string]func() error{
			"serve":  func() error { _, err := Load(); return err },
			"outbox": func() error { _, err := LoadOutbox(); return err },
		} {
			environ(t, append(append([]string{}, serve...), tc.env...))
			err := load()
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Var != tc.varName || strings.Contains(err.Error(), "file-secret-pw") {
				t.Errorf("%s with %v: %v; want an error naming %s, without the password", name, tc.env, err, tc.varName)
			}
		}
	}
}
