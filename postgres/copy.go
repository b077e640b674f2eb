package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Source is an outbox whose events CopyFrom copies: the SQLite file's
// store, read a page at a time (its List, newest first).
type Source interface {
	List(ctx context.Context, state sidecar.State, before string, limit int) ([]sidecar.Event, error)
}

// Copied is what CopyFrom did: how many events it read and copied, and
// those PostgreSQL refused to store, by id, with why.
type Copied struct {
	Read    int       `json:"read"`
	Copied  int       `json:"copied"`
	Skipped []Skipped `json:"skipped"`
}

// Skipped is an event CopyFrom could not copy.
type Skipped struct {
	ID     string `json:"id"`
	Reason string `json:"reason"` // PostgreSQL's words, never the event's data
}

// ErrSourceInUse is CopyFrom refusing while a sidecar still delivers from
// the source.
var ErrSourceInUse = errors.New("the outbox is in use")

// CopyFrom copies every event of src into the store (sidecar outbox
// migrate): the queued ones for the fleet to deliver, the others so that
// their idempotency keys, the report and the dashboard carry on, each with
// its id, key, state, answer and times (Import). It refuses, copying
// nothing, while a queued event of src is leased at now: a sidecar still
// delivers from it. Each page is one transaction; an event PostgreSQL
// refuses for its data (a NUL in a conversion id, which SQLite stores and
// PostgreSQL's text cannot hold) is skipped and listed, and its page's
// other events are copied one by one. It can run again: what is already
// here is skipped.
func (s *Store) CopyFrom(ctx context.Context, src Source, now time.Time) (Copied, error) {
	c := Copied{Skipped: []Skipped{}}
	queued, err := src.List(ctx, sidecar.StateQueued, "", sidecar.MaxListLimit)
	for ; err == nil && len(queued) > 0; queued, err = src.List(ctx, sidecar.StateQueued, queued[len(queued)-1].ID, sidecar.MaxListLimit) {
		for _, e := range queued {
			if e.LeaseUntil.After(now) {
				return c, fmt.Errorf("%w: event %s is being delivered (leased until %s): stop that sidecar first (SIGTERM), then migrate",
					ErrSourceInUse, e.ID, e.LeaseUntil.UTC().Format(time.RFC3339))
			}
		}
	}
	if err != nil {
		return c, fmt.Errorf("read the events to copy: %w", err)
	}
	page, err := src.List(ctx, "", "", sidecar.MaxListLimit)
	for ; err == nil && len(page) > 0; page, err = src.List(ctx, "", page[len(page)-1].ID, sidecar.MaxListLimit) {
		c.Read += len(page)
		n, ierr := s.Import(ctx, page)
		if ierr == nil {
			c.Copied += n
			continue
		}
		if _, bad := dataError(ierr); !bad {
			return c, ierr
		}
		for _, e := range page { // one refused event fails its page's transaction: the others alone
			n, ierr := s.Import(ctx, []sidecar.Event{e})
			if why, bad := dataError(ierr); bad {
				c.Skipped = append(c.Skipped, Skipped{ID: e.ID, Reason: why})
				continue
			} else if ierr != nil {
				return c, ierr
			}
			c.Copied += n
		}
	}
	if err != nil {
		return c, fmt.Errorf("read the events to copy: %w", err)
	}
	return c, nil
}

// dataError reports whether err is PostgreSQL refusing a value (SQLSTATE
// class 22, data exception: a NUL byte, an unpaired escape), and says
// which, in PostgreSQL's words with its code.
func dataError(err error) (string, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Code, "22") {
		return "", false
	}
	return pe.Message + " (SQLSTATE " + pe.Code + ")", true
}
