package sqlite

// SQLite is C (mattn/go-sqlite3): without cgo the build stops on
// needcgo's message, not on undefined sqlite3 names.
import _ "github.com/glpwinner/glp-sidecar/internal/needcgo"
