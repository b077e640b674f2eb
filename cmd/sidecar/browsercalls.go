package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/ingest"
)

// clickKeeper is what corroborating browser calls needs of the store: the
// key that signs click cookies (one per outbox, shared by a fleet) and the
// landings of a click id.
type clickKeeper interface {
	ClickKey(ctx context.Context) ([]byte, error)
	ingest.LandingFinder
}

// clickKeyTimeout bounds reading (or making) the click key at start.
const clickKeyTimeout = 10 * time.Second

// browserCallParts are the click-cookie signer and the landings that
// corroborate browser calls, from the store.
func (m *Main) browserCallParts() (*sidecar.ClickSigner, ingest.LandingFinder, error) {
	var inner sidecar.Store = m.store
	if o, opened := inner.(*openedStore); opened {
		inner = o.Store // the sealing store when a data key is set: it opens the landings' addresses
	}
	keeper, ok := inner.(clickKeeper)
	if !ok {
		return nil, nil, errors.New("the store keeps no click key")
	}
	ctx, cancel := context.WithTimeout(context.Background(), clickKeyTimeout)
	defer cancel()
	key, err := keeper.ClickKey(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("corroborating browser calls: %w", err)
	}
	return sidecar.NewClickSigner(key), keeper, nil
}
