package mockglp

// The mock's store is SQLite (mattn/go-sqlite3, C): without cgo the build
// stops on needcgo's message.
import _ "github.com/glpwinner/glp-sidecar/internal/needcgo"
