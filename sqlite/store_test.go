package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/sqlite"
	"github.com/glpwinner/glp-sidecar/storetest"
)

func TestTheFileKeepsTheStoreContract(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		NewDB: func(t *testing.T) string { return filepath.Join(t.TempDir(), "data", "outbox.db") },
		Open: func(t *testing.T, path string, now func() time.Time) sidecar.Store {
			return open(t, sqlite.Options{Path: path, Now: now})
		},
	})
}
