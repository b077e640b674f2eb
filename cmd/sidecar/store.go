package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/internal/seal"
	"github.com/glpwinner/glp-sidecar/outbox"
	"github.com/glpwinner/glp-sidecar/postgres"
)

// storeOptions say which store to open: PostgreSQL when URL is set, else
// the SQLite file at Path.
type storeOptions struct {
	URL      string
	Path     string
	Logger   *slog.Logger
	Observer outbox.Observer // the store's commits (the file's group commits, PostgreSQL's batches); nil: not observed
	Key      *seal.Key       // GLP_DATA_KEY_FILE: personal data sealed at rest; nil: in the clear
}

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
	if o.URL != "" {
		return postgres.Open(ctx, postgres.Options{
			URL:      o.URL,
			Logger:   o.Logger,
			Observer: o.Observer,
		})
	}
	return outbox.Open(outbox.Options{
		Path:     o.Path,
		Logger:   o.Logger,
		Observer: o.Observer,
	})
}

// storeName is where the outbox is, fit for logs: never a password.
func storeName(o storeOptions) string {
	if o.URL != "" {
		return postgres.Describe(o.URL)
	}
	return o.Path
}

// fleetPoll is how often a ?wait= on a shared database reads the event:
// another sidecar of the fleet may be the one that delivers it.
const fleetPoll = 100 * time.Millisecond

// localWaiter is the relay, as ingest waits on it.
type localWaiter interface {
	Wait(ctx context.Context, id string) (sidecar.Event, bool)
}

// fleetWaiter waits for an event's final state whoever delivers it: this
// sidecar's relay tells at once, and the shared store tells when another
// sidecar did.
type fleetWaiter struct {
	relay localWaiter
	store sidecar.Store
}

func (w fleetWaiter) Wait(ctx context.Context, id string) (sidecar.Event, bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		e  sidecar.Event
		ok bool
	}
	local := make(chan answer, 1)
	go func() { e, ok := w.relay.Wait(ctx, id); local <- answer{e, ok} }()
	t := time.NewTicker(fleetPoll)
	defer t.Stop()
	for {
		select {
		case a := <-local:
			return a.e, a.ok
		case <-t.C:
			if e, _, err := w.store.Get(ctx, id); err == nil && e.State != sidecar.StateQueued {
				return e, true
			}
		}
	}
}

// waiter is what ?wait= waits on: the relay alone for the file, which only
// this sidecar delivers from, or the fleet's.
func waiter(o storeOptions, relay localWaiter, store sidecar.Store) localWaiter {
	if o.URL == "" {
		return relay
	}
	return fleetWaiter{relay: relay, store: store}
}
