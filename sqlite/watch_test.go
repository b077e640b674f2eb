package sqlite_test

import (
	"errors"
	"github.com/glpwinner/glp-sidecar/internal/logtest"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

type syncBuffer = logtest.Buffer

// TestAWriteToAFileNoLongerAtItsPathIsNeverAcknowledged deletes, moves and
// replaces the file under an open outbox, as a careless operator would, and
// writes at once, before the watch's own tick: the write must fail as
// unavailable (a 503), naming the path for the operator but not for the
// caller, the log must say what happened, and the file put back must take
// writes again.
func TestAWriteToAFileNoLongerAtItsPathIsNeverAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name, problem string
		break_        func(t *testing.T, path string)
		repair        func(t *testing.T, path string)
	}{
		{"the data folder deleted", "deleted or moved away", func(t *testing.T, path string) {
			if err := os.RemoveAll(filepath.Dir(path)); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"the file moved away", "deleted or moved away", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".old"); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, path string) {
			if err := os.Rename(path+".old", path); err != nil {
				t.Fatal(err)
			}
		}},
		{"the file replaced", "replaced by another file", func(t *testing.T, path string) {
			other := path + ".new"
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			path := filepath.Join(t.TempDir(), "data", "outbox.db")
			o := open(t, sqlite.Options{Path: path, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if _, err := o.Append(ctx, conv(1)); err != nil {
				t.Fatal(err)
			}
			tc.break_(t, path)
			_, err := o.Append(ctx, conv(2))
			if sidecar.ErrorCode(err) != sidecar.EUnavailable {
				t.Fatalf("a write right after %s: %v, want it refused as unavailable", tc.name, err)
			}
			var se *sidecar.Error
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("the error %q names neither the path nor what happened", err)
			}
			if errors.As(err, &se) && strings.Contains(se.Message, path) {
				t.Errorf("the caller's message %q names the server's path", se.Message)
			}
			if err := o.Writable(ctx); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("Writable: %v, want the path named", err)
			}
			if err := o.LastWriteError(); err == nil {
				t.Error("LastWriteError is nil after a refused write")
			}
			if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "no longer at GLP_DB_PATH") || strings.Count(got, "no longer at GLP_DB_PATH") != 1 {
				t.Errorf("the log: %q, want one error saying what happened", got)
			}
			if tc.repair == nil {
				return
			}
			tc.repair(t, path)
			if _, err := o.Append(ctx, conv(3)); err != nil {
				t.Fatalf("the file back at its path, a write: %v", err)
			}
			if !strings.Contains(logs.String(), "file is back") {
				t.Errorf("the log does not say the file is back: %q", logs)
			}
		})
	}
}
