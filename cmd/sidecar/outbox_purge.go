package main

import (
	"context"
	"io"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
)

// outboxPurge deletes delivered and duplicate events finished before
// --older-than.
func outboxPurge(ctx context.Context, cfg config.OutboxConfig, args []string, stdout io.Writer) error {
	f := newOutboxFlags("purge", cfg)
	olderThan := newDurationFlag(f.FlagSet, "older-than", 720*time.Hour, "age")
	if _, help, err := f.parse(args, stdout); help || err != nil {
		return err
	}
	return f.withAudit(ctx, "outbox.purge", "finished before "+olderThan.String()+" ago", func(box sidecar.Store) error {
		n, err := box.Purge(ctx, *olderThan)
		if err != nil {
			return err
		}
		return f.printer(stdout).count("purged", n, "delivered and duplicate events finished more than "+olderThan.String()+" ago")
	})
}
