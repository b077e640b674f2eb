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

// The token is redacted in any escaping whether or not the answer is one
// JSON value: trailing text, an HTML page, a body cut at any size, escapes
// nested in each other, HTML character references.
func TestRedactTakesTheSecretOutOfAnyAnswerValidJSONOrNot(t *testing.T) {
	const secret = "tok/1+2=3<&>"
	esc := `\u0074\u006F\u006b\u002f\u0031\u002b\u0032\u003d\u0033\u003c\u0026\u003e`
	big := strings.Repeat("x", 70<<10)
	for _, echoed := range []string{
		`{"error":"` + esc + `"} and some trailing text`,
		`<html><body>token: ` + esc + `</body></html>`,
		`{"error":"` + big + esc + `"`, // cut: not valid JSON
		big + `{"auth":"` + esc + `"}`,
		`<p>&#116;&#x6F;&#107;&#x2F;1+2=3<&#38;&#62;</p>`,
		`{"u":"https://x.example/?t=tok%252F1%252B2%253D3%253C%2526%253E"}`, // percent-encoded twice
		`{"u":"%5Cu0074ok/1+2=3<&>"}`,                                       // a JSON escape, percent-encoded
		`"` + esc[:24] + `1\u002b2=3<&>`,                                    // a stray quote first
	} {
		got := sidecar.Redact(echoed, secret)
		if !strings.Contains(got, "[redacted]") {
			t.Errorf("Redact(%.80q…) kept the secret: %.200q", echoed[max(0, len(echoed)-120):], got[max(0, len(got)-200):])
		}
	}
}
