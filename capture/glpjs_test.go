package capture_test

import (
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glpwinner/glp-sidecar/capture"
)

// glp.js keeps in its cookie only the click ids the sidecar takes: run in
// Node with a stand-in document, a landing's id is stored or ignored as the
// click-id rule says.
func TestGlpJSStoresOnlyValidClickIDs(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH")
	}
	h, err := capture.Script(capture.Options{}, "/glp-s2s-conversion", "/glp-landing")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/glp.js", nil))
	script := filepath.Join(t.TempDir(), "glp.js")
	os.WriteFile(script, rec.Body.Bytes(), 0o600)
	run := func(id string) string {
		harness := `globalThis.document = {cookie: "", currentScript: null};
globalThis.location = {search: "?glp_click_id=" + process.argv[2], protocol: "https:", href: "https://shop.example/"};
globalThis.window = globalThis;
require(process.argv[1]);
process.stdout.write(document.cookie);`
		out, err := exec.Command(node, "-e", harness, script, url.QueryEscape(id)).CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v: %s", err, out)
		}
		return string(out)
	}
	if got := run("aff-123"); !strings.HasPrefix(got, "_glp_cid=aff-123;") {
		t.Errorf("a valid id: cookie %q", got)
	}
	for _, c := range " \"',;\\<>&`" {
		id := "a" + string(c) + "b"
		if got := run(id); got != "" {
			t.Errorf("glp.js stored %q: cookie %q", id, got)
		}
	}
}
