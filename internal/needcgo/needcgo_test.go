package needcgo_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestABuildWithoutCgoSaysItNeedsACCompiler builds the sidecar as a
// machine without gcc would (CGO_ENABLED=0) and reads why it fails.
func TestABuildWithoutCgoSaysItNeedsACCompiler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sidecar without cgo")
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "sidecar"), "./cmd/sidecar")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("the sidecar built without cgo: SQLite would fail at run time instead")
	}
	msg := string(out)
	for _, want := range []string{"glp-sidecar needs a C compiler (cgo) for SQLite", "install gcc (apt-get install -y gcc), build with CGO_ENABLED=1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("go build says\n%s\nwithout %q", msg, want)
		}
	}
	if strings.Contains(msg, "sqlite3.") {
		t.Errorf("go build names sqlite3's missing symbols, which say nothing to a newcomer:\n%s", msg)
	}
}
