package main

import (
	"context"
	"io"
	"strings"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
)

// outboxRetry sends events again: the ones named, or every one in a state.
func outboxRetry(ctx context.Context, cfg config.OutboxConfig, args []string, stdout io.Writer) error {
	f := newOutboxFlags("retry", cfg)
	state := f.String("state", "", "a state")
	ids, help, err := f.parse(args, stdout)
	if help || err != nil {
		return err
	}
	if (*state == "") == (len(ids) == 0) {
		return &usageError{"outbox retry takes event ids, or --state dead|rejected|unconfirmed (one of the two)"}
	}
	target := "events " + strings.Join(ids, " ")
	if *state != "" {
		target = "state=" + *state
	}
	return f.withAudit(ctx, "outbox.retry", target, func(box sidecar.Store) error {
		var n int
		var err error
		if *state != "" {
			n, err = box.RetryState(ctx, sidecar.State(*state))
		} else {
			n, err = box.Retry(ctx, ids...)
		}
		if err != nil {
			return err
		}
		return f.printer(stdout).count("requeued", n, whoSends(ctx, n))
	})
}

// whoSends says what becomes of n requeued events: sent within seconds by
// the sidecar that answers at GLP_ADMIN_ADDR, or once one runs.
func whoSends(ctx context.Context, n int) string {
	if n == 0 {
		return "nothing was waiting to be sent again"
	}
	url, err := healthURL(nil)
	if err != nil {
		return "they are sent when sidecar serve runs on this file"
	}
	if err := runHealthcheck(ctx, nil, io.Discard, io.Discard); err != nil {
		return "no sidecar answers at " + url + " (GLP_ADMIN_ADDR): they are sent when sidecar serve runs on this file"
	}
	return "the sidecar answering at " + url + " sends them within seconds"
}
