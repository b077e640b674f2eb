package main

import (
	"context"
	"fmt"
	sidecar "github.com/glpwinner/glp-sidecar"
	"io"
	"time"

	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/postgres"
	"github.com/glpwinner/glp-sidecar/sqlite"
)

// outboxMigrate copies the outbox file to PostgreSQL: the database of --to,
// else GLP_DB_URL or GLP_DB_URL_FILE (a URL on the command line shows in
// ps, with its password). The copying is postgres.Store.CopyFrom's.
func outboxMigrate(ctx context.Context, cfg config.OutboxConfig, args []string, stdout io.Writer) error {
	f := newFileFlags("migrate", cfg)
	to := f.String("to", cfg.DBURL.Value(), "migrate: the PostgreSQL database to copy the file's events to (default GLP_DB_URL or GLP_DB_URL_FILE)")
	if _, help, err := f.parse(args, stdout); help || err != nil {
		return err
	}
	return migrateOutbox(ctx, *f.db, *to, f.printer(stdout))
}

// migrateOutbox opens the SQLite file at path and the PostgreSQL database
// at to, copies the one into the other and prints what it did, listing
// the events it could not copy.
func migrateOutbox(ctx context.Context, path, to string, out printer) error {
	if to == "" {
		return &usageError{"usage: sidecar outbox migrate [--to postgres://…] [--db PATH]: name the database with GLP_DB_URL, GLP_DB_URL_FILE or --to"}
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
	pg, err := postgres.Open(ctx, postgres.Options{URL: to})
	if err != nil {
		return err
	}
	defer pg.Close()
	if err := copyDataKeys(ctx, file, pg); err != nil {
		return err
	}
	c, err := pg.CopyFrom(ctx, file, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if out.json {
		return out.encode(c)
	}
	for _, s := range c.Skipped {
		fmt.Fprintf(out.w, "skipped %s: %s\n", s.ID, s.Reason)
	}
	note := fmt.Sprintf("of %d events in %s, to %s; the fleet delivers the queued ones", c.Read, path, postgres.Describe(to))
	if len(c.Skipped) > 0 {
		note += fmt.Sprintf("; %d skipped, listed above: PostgreSQL refuses their data; `sidecar outbox show ID --db %s` shows each, which stays in the file", len(c.Skipped), path)
	}
	return out.count("copied", c.Copied, note)
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
