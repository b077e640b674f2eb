package main

import (
	"context"
	"errors"
	"log/slog"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/internal/seal"
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
	Key      *seal.Key              // GLP_DATA_KEY_FILE: personal data sealed at rest; nil: in the clear
}

// shared reports whether the store is a PostgreSQL database, which a fleet
// of sidecars and the operators' commands share; else it is the file.
func (o storeOptions) shared() bool { return o.URL != "" }

// rawStore is what both stores offer: the outbox, its data keys and the
// audit log.
type rawStore interface {
	sidecar.Store
	sidecar.KeyStore
	sidecar.AuditStore
}

// openedStore is an open outbox: Store seals and opens personal data when
// a key is set (every part reads and writes through it); Audit and Keys
// are the same store's audit log and data keys.
type openedStore struct {
	sidecar.Store
	Audit sidecar.AuditStore
	Keys  sidecar.KeyStore
}

// openStore opens the outbox the options name, checks the data key
// against it, and seals through it when a key is set. A key other than
// the one the outbox was written with, or none for an outbox written with
// one, is bad configuration naming GLP_DATA_KEY_FILE and the fingerprints.
func openStore(ctx context.Context, o storeOptions) (*openedStore, error) {
	raw, err := openRaw(ctx, o)
	if err != nil {
		return nil, err
	}
	out := &openedStore{Store: raw, Audit: raw, Keys: raw}
	if o.Key == nil {
		err = seal.CheckUnsealed(ctx, raw)
	} else {
		out.Store, err = seal.Wrap(ctx, raw, seal.Options{Key: *o.Key, Logger: o.Logger})
	}
	if err != nil {
		raw.Close()
		if errors.Is(err, seal.ErrWrongKey) {
			return nil, &config.Error{Var: "GLP_DATA_KEY_FILE", Problem: err.Error()}
		}
		return nil, err
	}
	return out, nil
}

func openRaw(ctx context.Context, o storeOptions) (rawStore, error) {
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
