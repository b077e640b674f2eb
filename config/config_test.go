package config

import (
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
