package main

import (
	"context"
	"fmt"
	"io"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/postgres"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// outboxMigrate copies the outbox file to PostgreSQL (migrateOutbox).
func outboxMigrate(ctx context.Context, cfg config.OutboxConfig, args []string, stdout io.Writer) error {
	f := newFileFlags("migrate", cfg)
	to := f.String("to", "", "migrate: the PostgreSQL database to copy the file's events to")
	if _, help, err := f.parse(args, stdout); help || err != nil {
		return err
	}
	return migrateOutbox(ctx, *f.db, *to, f.printer(stdout))
}

// migrateOutbox copies every event of the SQLite file at path to the
// PostgreSQL database at to: the queued ones for the fleet to deliver, the
// others so that their idempotency keys, the report and the dashboard
// carry on. Their attempts and the click log stay in the file. It refuses
// while a sidecar still delivers from the file (a queued event is leased),
// and can run again: what is already there is skipped.
func migrateOutbox(ctx context.Context, path, to string, out printer) error {
	if to == "" {
		return &usageError{"usage: sidecar outbox migrate --to postgres://… [--db PATH]"}
	}
	if err := config.CheckDBURL("--to", config.Secret(to)); err != nil {
		return err
	}
	if err := fileExists(path); err != nil {
		return err
	}
	file, err := sqlite.Open(sqlite.Options{Path: path})
	if err != nil {
		return err
	}
	defer file.Close()
	queued, err := file.List(ctx, sidecar.StateQueued, "", sidecar.MaxListLimit)
	for before := ""; err == nil && len(queued) > 0; queued, err = file.List(ctx, sidecar.StateQueued, before, sidecar.MaxListLimit) {
		for _, e := range queued {
			if e.LeaseUntil.After(time.Now()) {
				return fmt.Errorf("event %s is being delivered from %s (leased until %s): stop that sidecar first (SIGTERM), then migrate", e.ID, path, e.LeaseUntil.Format(time.RFC3339))
			}
			before = e.ID
		}
	}
	if err != nil {
		return err
	}
	pg, err := postgres.Open(ctx, postgres.Options{URL: to})
	if err != nil {
		return err
	}
	defer pg.Close()
	read, copied := 0, 0
	page, err := file.List(ctx, "", "", sidecar.MaxListLimit)
	for err == nil && len(page) > 0 {
		n, ierr := pg.Import(ctx, page)
		if ierr != nil {
			return ierr
		}
		read, copied = read+len(page), copied+n
		page, err = file.List(ctx, "", page[len(page)-1].ID, sidecar.MaxListLimit)
	}
	if err != nil {
		return err
	}
	return out.count("copied", copied, fmt.Sprintf("of %d events in %s, to %s; the fleet delivers the queued ones", read, path, postgres.Describe(to)))
}
