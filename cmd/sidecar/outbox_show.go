package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
)

// outboxShow prints one event with every attempt and GLP Winner's answers.
func outboxShow(ctx context.Context, cfg config.OutboxConfig, args []string, stdout io.Writer) error {
	f := newOutboxFlags("show", cfg)
	ids, help, err := f.parse(args, stdout)
	if help || err != nil {
		return err
	}
	if len(ids) != 1 {
		return &usageError{"usage: sidecar outbox show ID"}
	}
	return f.withStore(ctx, func(box sidecar.Store) error {
		e, attempts, err := box.Get(ctx, ids[0])
		if err != nil {
			return err
		}
		return f.printer(stdout).show(e, attempts)
	})
}

func (p printer) show(e sidecar.Event, attempts []sidecar.Attempt) error {
	if p.json {
		return p.encode(map[string]any{"event": e, "attempts": attempts})
	}
	c := e.Conversion
	rows := [][]string{
		{"event", e.ID}, {"state", stateCell(e)}, {"test", fmt.Sprint(e.Test)},
		{"may have landed", fmt.Sprint(e.MayHaveLanded)}, {"possible double", fmt.Sprint(e.PossibleDouble)},
		{"click id", dash(c.ClickID) + source(e.ClickSource)}, {"session token", dash(c.SessionToken)},
		{"email", dash(c.Email)}, {"ip", dash(c.IP)}, {"conversion id", dash(c.ConversionID)},
		{"received", e.CreatedAt.Format(time.RFC3339)}, {"attempts", fmt.Sprint(e.Attempts)},
	}
	if e.State == sidecar.StateQueued {
		rows = append(rows, []string{"next attempt", e.NextAttemptAt.Format(time.RFC3339)})
	} else {
		rows = append(rows, []string{"finished", e.FinishedAt.Format(time.RFC3339)})
	}
	if e.Upstream.ConversionID != "" {
		rows = append(rows, []string{"GLP conversion", e.Upstream.ConversionID})
	}
	if err := p.table(rows); err != nil {
		return err
	}
	if len(attempts) == 0 {
		return nil
	}
	fmt.Fprintln(p.w)
	at := [][]string{{"#", "STARTED", "TOOK", "STATUS", "OUTCOME", "WHAT IT MEANT", "ANSWER"}}
	for _, a := range attempts {
		at = append(at, []string{fmt.Sprint(a.N), a.StartedAt.Format(time.RFC3339), a.Duration.Round(time.Millisecond).String(),
			lastAnswer(a.Status, a.Error), outcomeCell(a), dash(a.Error), dash(strings.TrimSpace(a.Body))})
	}
	return p.table(at)
}

// outcomeCell is the attempt's outcome, with how many identical probes its
// row stands for.
func outcomeCell(a sidecar.Attempt) string {
	if a.Repeats > 1 {
		return fmt.Sprintf("%s ×%d (last %s)", a.Outcome, a.Repeats, a.LastAt.Format(time.RFC3339))
	}
	return a.Outcome
}

func source(s string) string {
	if s == "" {
		return ""
	}
	return " (from " + strings.ReplaceAll(s, "_", " ") + ")"
}
