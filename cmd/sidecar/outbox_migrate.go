package main

import (
	"context"
	"fmt"
	"io"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/outbox"
	"github.com/glpwinner/glp-sidecar/postgres"
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
	file, err := outbox.Open(outbox.Options{Path: path})
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
	if err := copyDataKeys(ctx, file, pg); err != nil {
		return err
	}
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

// copyDataKeys gives the database the file's data keys and key
// fingerprint, before its sealed events: they open there with the same
// GLP_DATA_KEY_FILE. A database written with another key refuses them.
func copyDataKeys(ctx context.Context, from, to sidecar.KeyStore) error {
	fp, err := from.KeyFingerprint(ctx)
	if err != nil || fp == "" {
		return err
	}
	if err := to.SetKeyFingerprint(ctx, fp); err != nil {
		return &config.Error{Var: "GLP_DATA_KEY_FILE", Problem: "the file and the database were written with different keys: " + err.Error()}
	}
	keys, err := from.DataKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if got, err := to.AddDataKey(ctx, k); err != nil {
			return err
		} else if string(got.Wrapped) != string(k.Wrapped) {
			return fmt.Errorf("the database holds another data key for %s: the file's events of that day would not open there", k.Day)
		}
	}
	return nil
}
