package main

import (
	"context"
	"fmt"
	"io"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
)

// outboxStats prints the counts per state and the oldest queued event.
func outboxStats(ctx context.Context, cfg config.OutboxConfig, args []string, stdout io.Writer) error {
	f := newOutboxFlags("stats", cfg)
	if _, help, err := f.parse(args, stdout); help || err != nil {
		return err
	}
	return f.withStore(ctx, func(box sidecar.Store) error {
		st, err := box.Stats(ctx)
		if err != nil {
			return err
		}
		return f.printer(stdout).stats(st)
	})
}

func (p printer) stats(st sidecar.Stats) error {
	if p.json {
		return p.encode(st)
	}
	rows := [][]string{{"STATE", "EVENTS"}}
	for _, s := range sidecar.States() {
		rows = append(rows, []string{string(s), fmt.Sprint(st.States[s])})
	}
	rows = append(rows, []string{"possible double", fmt.Sprint(st.PossibleDouble)})
	if err := p.table(rows); err != nil {
		return err
	}
	if !st.OldestQueued.IsZero() {
		fmt.Fprintf(p.w, "\noldest queued: %s ago (%s)\n", time.Since(st.OldestQueued).Round(time.Second), st.OldestQueued.Format(time.RFC3339))
	}
	return nil
}
