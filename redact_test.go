package sidecar_test

import (
	"strings"
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
)

func TestRedactTakesTheSecretOutInEveryFormAnUpstreamEchoesIt(t *testing.T) {
	const secret = "tok/1+2=3<&>"
	for _, echoed := range []string{
		"Authorization: Bearer tok/1+2=3<&>",
		`{"auth":"Bearer tok/1+2=3\u003c\u0026\u003e"}`,
		`{"auth":"Bearer tok\/1+2=3\u003c\u0026\u003e"}`,
		"https://login.example/?auth=Bearer+tok%2F1%2B2%3D3%3C%26%3E",
		"https://login.example/tok%2F1+2=3%3C&%3E",
		"https://login.example/?a=tok%2f1%2b2%3d3%3c%26%3e",                                    // lower-case hex
		`{"error":"Invalid API token: tok/1\u002B2=3\u003C\u0026\u003E"}`,                      // upper-case JSON escapes
		`{"error":"\u0074\u006f\u006b\u002f\u0031\u002b\u0032\u003d\u0033\u003c\u0026\u003e"}`, // every character escaped
		`{"nested":{"list":["x","Bearer tok\/1\u002b2=3<&>"]}}`,
	} {
		got := sidecar.Redact(echoed, secret)
		if !strings.Contains(got, "[redacted]") || strings.Contains(got, "1+2=3") || strings.Contains(got, "1%2B2") {
			t.Errorf("Redact(%q) = %q", echoed, got)
		}
	}
	if got := sidecar.Redact("nothing here", secret); got != "nothing here" {
		t.Errorf("an answer without the secret changed: %q", got)
	}
	if got := sidecar.Redact("anything", ""); got != "anything" {
		t.Errorf("no secret: %q", got)
	}
}
