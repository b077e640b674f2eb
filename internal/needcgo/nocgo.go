//go:build !cgo

package needcgo

// This file is compiled only when cgo is off, and is meant not to compile:
// the two lines below are the message go build prints.
const _ int = "glp-sidecar needs a C compiler (cgo) for SQLite"
const _ int = "install gcc (apt-get install -y gcc), build with CGO_ENABLED=1"
