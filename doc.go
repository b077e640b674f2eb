// Package sidecar holds the words every part of glp-sidecar shares: a
// Conversion as the provider sends it, the click id, the event states of the
// outbox, and the Error type whose codes map to HTTP statuses.
//
// The package imports only the standard library. The rooms of the flow
// (ingest → outbox → relay → upstream, and capture beside them) import it and
// never each other; cmd/sidecar wires them together.
package sidecar
