package main

import (
	"context"
	"log/slog"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/postgres"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// storeOptions say which store to open: PostgreSQL when URL is set, else
// the SQLite file at Path.
type storeOptions struct {
	URL      string
	Path     string
	Logger   *slog.Logger
	Observer sidecar.CommitObserver // the store's commits (the file's group commits, PostgreSQL's batches); nil: not observed
}

// openStore opens the outbox the options name.
func openStore(ctx context.Context, o storeOptions) (sidecar.Store, error) {
	if o.URL != "" {
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
