// SPDX-License-Identifier: Apache-2.0

// Package sidecar holds the words every part of glp-sidecar shares, and
// nothing that belongs to one part alone:
//
//   - a Conversion as it is relayed, and the click id's rules (ValidClickID)
//     and cookies (conversion.go); a Click of the click log (click.go);
//   - an event of the outbox: NewEvent, Event, its State, an Attempt and the
//     Result of one, Stats and the relay's status (event.go, state.go);
//   - the Store contract that every store (package sqlite,
//     package postgres) fulfils, and the rules each keeps the same way:
//     cleaned and clipped text, folded attempt rows (store.go, stored.go);
//   - the reconciliation report's query, days and rows (report.go);
//   - the Error type with its codes (error.go), and Redact, which takes the
//     upstream's token out of whatever is kept or shown (redact.go).
//
// It imports only the standard library, and knows neither JSON bodies of
// requests nor HTTP: the conversion endpoint (package ingest) decodes its
// own bodies, and what the listeners share about HTTP (the client's address
// behind trusted proxies, the answer to an error code) is internal/web.
//
// A conversion flows one way: ingest → outbox (a Store) → relay → GLP
// Winner, with capture beside ingest keeping the click id, and admin
// reading the Store. Each of those rooms imports this package and never
// another room; cmd/sidecar wires them together.
package sidecar
