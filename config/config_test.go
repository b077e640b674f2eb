package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestWarningsNameACleartextUpstreamAndAnExposedMock(t *testing.T) {
	for _, tc := range []struct {
		url  string
		warn bool
	}{
		{"http://203.0.113.7:8788", true},
		{"http://mock:8788", true},
		{"http://127.0.0.1:8788", false},
		{"http://localhost:8788", false},
		{"http://[::1]:8788", false},
		{"https://www.glpwinner.com", false},
	} {
		w := Config{APIURL: tc.url}.Warnings()
		if got := len(w) == 1 && strings.Contains(w[0], "GLP_API_URL"); got != tc.warn {
			t.Errorf("GLP_API_URL=%s: warnings %q, want a warning: %v", tc.url, w, tc.warn)
		}
	}
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"0.0.0.0:8788", true},
		{":8788", true},
		{"192.0.2.5:8788", true},
		{"127.0.0.1:8788", false},
		{"localhost:8788", false},
	} {
		w := MockConfig{ListenAddr: tc.addr}.Warnings()
		if got := len(w) == 1 && strings.Contains(w[0], "GLP_MOCK_LISTEN_ADDR"); got != tc.warn {
			t.Errorf("GLP_MOCK_LISTEN_ADDR=%s: warnings %q, want a warning: %v", tc.addr, w, tc.warn)
		}
	}
}

// environ makes env the whole GLP_ environment of one test: the developer's
// own GLP_ variables are unset (and restored after it), as the tests that
// run the binary give it only what they mean to.
func environ(t *testing.T, env []string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, Prefix+"_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func TestABadConfigurationIsAnErrorNamingTheVariable(t *testing.T) {
	serve := func() error { _, err := Load(); return err }
	mock := func() error { _, err := LoadMock(); return err }
	tests := []struct {
		name, varName string
		load          func() error
		env           []string
	}{
		{"no provider id", "GLP_PROVIDER_ID", serve, []string{"GLP_API_TOKEN=test-token"}},
		{"a provider id that is not a number", "GLP_PROVIDER_ID", serve, []string{"GLP_PROVIDER_ID=abc", "GLP_API_TOKEN=test-token"}},
		{"no token", "GLP_API_TOKEN", serve, []string{"GLP_PROVIDER_ID=1"}},
		{"an empty token", "GLP_API_TOKEN", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN="}},
		{"a token file that is missing", "GLP_API_TOKEN_FILE", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN_FILE=/nonexistent/token"}},
		{"a public admin address without a token", "GLP_ADMIN_TOKEN", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_ADMIN_ADDR=0.0.0.0:8790"}},
		{"an admin token shorter than 16 characters", "GLP_ADMIN_TOKEN", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_ADMIN_TOKEN=fifteen-chars-x"}},
		{"an admin token file that is missing", "GLP_ADMIN_TOKEN_FILE", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_ADMIN_TOKEN_FILE=/nonexistent/admin-token"}},
		{"a bad admin host", "GLP_ADMIN_HOSTS", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_ADMIN_HOSTS=https://admin.example"}},
		{"a bad retry interval", "GLP_RETRY_INITIAL", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_RETRY_INITIAL=fast"}},
		{"a bad trusted proxy", "GLP_TRUSTED_PROXIES", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_TRUSTED_PROXIES=10.0.0.0/33"}},
		{"a bad API URL", "GLP_API_URL", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_API_URL=ftp://x"}},
		{"an ingest token that is too short", "GLP_INGEST_TOKEN", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_INGEST_TOKEN=short"}},
		{"the API token as the ingest token", "GLP_INGEST_TOKEN", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=0123456789abcdef0", "GLP_INGEST_TOKEN=0123456789abcdef0"}},
		{"an ingest token file that is missing", "GLP_INGEST_TOKEN_FILE", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_INGEST_TOKEN_FILE=/nonexistent/ingest"}},
		{"both ingest token forms", "GLP_INGEST_TOKEN_FILE", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_INGEST_TOKEN=0123456789abcdef0", "GLP_INGEST_TOKEN_FILE=/tmp/x"}},
		{"an empty cookie name", "GLP_COOKIE_NAME", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_COOKIE_NAME= "}},
		{"a cookie name with a space", "GLP_COOKIE_NAME", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_COOKIE_NAME=glp click"}},
		{"an origin with a path", "GLP_ALLOWED_ORIGINS", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_ALLOWED_ORIGINS=https://www.example.com/app"}},
		{"a retention of zero", "GLP_RETENTION", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_RETENTION=0s"}},
		{"a shutdown delay over five minutes", "GLP_SHUTDOWN_DELAY", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_SHUTDOWN_DELAY=6m"}},
		{"a max interval shorter than the first", "GLP_RETRY_MAX_INTERVAL", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_RETRY_INITIAL=10s", "GLP_RETRY_MAX_INTERVAL=5s"}},
		{"257 relay workers", "GLP_RELAY_WORKERS", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_RELAY_WORKERS=257"}},
		{"a rate limit without a burst", "GLP_RATE_LIMIT", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_RATE_LIMIT=5", "GLP_RATE_BURST=0"}},
		{"a log level that is not one", "GLP_LOG_LEVEL", serve, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token", "GLP_LOG_LEVEL=loud"}},
		{"mock providers that do not parse", "GLP_MOCK_PROVIDERS", mock, []string{"GLP_MOCK_PROVIDERS=oops"}},
		{"a duration that is not one", "GLP_MOCK_SOFT_MATCH_WINDOW", mock, []string{"GLP_MOCK_SOFT_MATCH_WINDOW=soon"}},
		{"an unknown log format", "GLP_LOG_FORMAT", mock, []string{"GLP_LOG_FORMAT=xml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			environ(t, tt.env)
			err := tt.load()
			var cerr *Error
			if !errors.As(err, &cerr) || !strings.Contains(err.Error(), tt.varName) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%v: want a configuration error, in one line, naming %s", err, tt.varName)
			}
		})
	}
}

func TestTheLeastConfigurationLoads(t *testing.T) {
	environ(t, []string{"GLP_PROVIDER_ID=1", "GLP_API_TOKEN=test-token"})
	if c, err := Load(); err != nil || c.ProviderID != 1 {
		t.Errorf("Load() = %+v, %v: want provider 1 and no error", c.ProviderID, err)
	}
	environ(t, nil)
	if _, err := LoadMock(); err != nil {
		t.Errorf("LoadMock() with nothing set: %v", err)
	}
}
