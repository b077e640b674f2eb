package capture_test

import (
	"encoding/json"
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
	// One Node for every landing (a Node each took seconds on a busy
	// machine): each loads glp.js again into a fresh stand-in document. A
	// valid id first and last shows that each load stores what it takes.
	ids := []string{"aff-123"}
	for _, c := range " \"',;\\<>&`" {
		ids = append(ids, "a"+string(c)+"b")
	}
	ids = append(ids, "aff-456")
	harness := `const cookies = [];
for (const id of process.argv.slice(2)) {
  delete globalThis.glp;
  globalThis.document = {cookie: "", currentScript: null};
  globalThis.location = {search: "?glp_click_id=" + id, protocol: "https:", href: "https://shop.example/"};
  globalThis.window = globalThis;
  delete require.cache[require.resolve(process.argv[1])];
  require(process.argv[1]);
  cookies.push(document.cookie);
}
process.stdout.write(JSON.stringify(cookies));`
	args := []string{"-e", harness, script}
	for _, id := range ids {
		args = append(args, url.QueryEscape(id))
	}
	out, err := exec.Command(node, args...).CombinedOutput()
	var cookies []string
	if err != nil || json.Unmarshal(out, &cookies) != nil || len(cookies) != len(ids) {
		t.Fatalf("node: %v: %s", err, out)
	}
	last := len(ids) - 1
	for _, i := range []int{0, last} {
		if got := cookies[i]; !strings.HasPrefix(got, "_glp_cid="+ids[i]+";") {
			t.Errorf("a valid id: cookie %q", got)
		}
	}
	for i, id := range ids[1:last] {
		if got := cookies[i+1]; got != "" {
			t.Errorf("glp.js stored %q: cookie %q", id, got)
		}
	}
}
