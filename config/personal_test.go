package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPersonalDataSettingsAreCheckedAndAKeyFileIsNeverQuoted(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	good := write("good.key", strings.Repeat("ab", 32)+"\n")
	secretish := "not-a-key-but-a-secret-value-0123"
	bad := write("bad.key", secretish)
	for _, tt := range []struct {
		name    string
		c       Config
		wantVar string
	}{
		{"the defaults", Config{SendPersonalData: "when-needed", AdminAuth: "token", AuditRetention: 52560 * time.Hour}, ""},
		{"always, a key, proxy with a trusted proxy", Config{SendPersonalData: "always", DataKeyFile: good, AdminAuth: "proxy", AuditRetention: 52560 * time.Hour, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, ""},
		{"an unknown policy", Config{SendPersonalData: "never", AdminAuth: "token", AuditRetention: time.Hour * 48}, "GLP_SEND_PERSONAL_DATA"},
		{"a key file without a key", Config{SendPersonalData: "always", DataKeyFile: bad, AdminAuth: "token", AuditRetention: time.Hour * 48}, "GLP_DATA_KEY_FILE"},
		{"a missing key file", Config{SendPersonalData: "always", DataKeyFile: filepath.Join(dir, "none"), AdminAuth: "token", AuditRetention: time.Hour * 48}, "GLP_DATA_KEY_FILE"},
		{"proxy without a trusted proxy", Config{SendPersonalData: "always", AdminAuth: "proxy", AuditRetention: time.Hour * 48}, "GLP_ADMIN_AUTH"},
		{"an unknown auth", Config{SendPersonalData: "always", AdminAuth: "basic", AuditRetention: time.Hour * 48}, "GLP_ADMIN_AUTH"},
		{"an audit kept less than a day", Config{SendPersonalData: "always", AdminAuth: "token", AuditRetention: time.Hour}, "GLP_AUDIT_RETENTION"},
	} {
		err := tt.c.checkPersonalData()
		var cerr *Error
		switch {
		case tt.wantVar == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantVar != "" && (!errors.As(err, &cerr) || cerr.Var != tt.wantVar):
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.wantVar)
		case err != nil && strings.Contains(err.Error(), secretish):
			t.Errorf("%s: the key file's content is in the error: %v", tt.name, err)
		}
	}
}
