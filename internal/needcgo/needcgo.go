// Package needcgo stops a build without cgo with a message that says so.
// glp-sidecar keeps its outbox in SQLite through mattn/go-sqlite3, which is
// C: it needs cgo and a C compiler. Without them (CGO_ENABLED=0, or no gcc
// on the PATH, which makes go turn cgo off) the packages that use SQLite
// import this one, whose !cgo file does not compile, and the build stops
// on its message instead of on `undefined: sqlite3.Error`.
package needcgo
