package main

import (
	"context"
	"fmt"
	"io"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
)

// outboxList prints events, newest first, of one state or of all.
func outboxList(ctx context.Context, cfg config.OutboxConfig, args []string, stdout io.Writer) error {
	f := newOutboxFlags("list", cfg)
	state := f.String("state", "", "a state")
	limit := f.Int("limit", 50, "how many")
	if _, help, err := f.parse(args, stdout); help || err != nil {
		return err
	}
	s := sidecar.State(*state)
	if s != "" && !s.Valid() {
		return &usageError{"--state must be one of " + sidecar.StateNames(sidecar.States())}
	}
	return f.withStore(ctx, func(box sidecar.Store) error {
		events, err := box.List(ctx, s, "", *limit)
		if err != nil {
			return err
		}
		return f.printer(stdout).list(events)
	})
}

func (p printer) list(events []sidecar.Event) error {
	if p.json {
		return p.encode(events)
	}
	rows := [][]string{{"EVENT", "STATE", "RECEIVED", "CLICK ID", "EMAIL", "ATTEMPTS", "LAST"}}
	for _, e := range events {
		rows = append(rows, []string{e.ID, stateCell(e), e.CreatedAt.Format(time.RFC3339), dash(e.Conversion.ClickID),
			dash(sidecar.MaskEmail(e.Conversion.Email)), fmt.Sprint(e.Attempts), lastAnswer(e.LastStatus, e.LastError)})
	}
	return p.table(rows)
}
