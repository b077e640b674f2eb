package main

import (
	"context"
	"log/slog"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/postgres"
	"github.com/glpwinner/glp-sidecar/relay"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// storeOptions say which store to open: PostgreSQL when URL is set, else
// the SQLite file at Path. The choice is made here (shared) and nowhere
// else.
type storeOptions struct {
	URL      string
	Path     string
	Logger   *slog.Logger
	Observer sidecar.CommitObserver // the store's commits (the file's group commits, PostgreSQL's batches); nil: not observed
}

// shared reports whether the store is a PostgreSQL database, which a fleet
// of sidecars and the operators' commands share; else it is the file.
func (o storeOptions) shared() bool { return o.URL != "" }

// openStore opens the outbox the options name.
func openStore(ctx context.Context, o storeOptions) (sidecar.Store, error) {
	if o.shared() {
		return postgres.Open(ctx, postgres.Options{
			URL:      o.URL,
			Logger:   o.Logger,
			Observer: o.Observer,
		})
	}
	return sqlite.Open(sqlite.Options{
		Path:     o.Path,
		Logger:   o.Logger,
		Observer: o.Observer,
	})
}

// storeName is where the outbox is, fit for logs: never a password.
func storeName(o storeOptions) string {
	if o.shared() {
		return postgres.Describe(o.URL)
	}
	return o.Path
}

// waiter is what ?wait= waits on: the relay alone for the file, which only
// this sidecar delivers from, or the fleet's.
func waiter(o storeOptions, local relay.Waiter, store sidecar.Store) relay.Waiter {
	if !o.shared() {
		return local
	}
	return relay.FleetWaiter{Local: local, Events: store}
}
