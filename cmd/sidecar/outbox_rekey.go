package main

import (
	"context"
	"fmt"
	"io"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/internal/seal"
)

// outboxRekey re-wraps every data key of the outbox under a new file key:
// key rotation. The data itself is not touched; the old key file opens
// nothing written after, and nothing at all once no copy of the outbox
// from before the rotation is kept.
func outboxRekey(ctx context.Context, cfg config.OutboxConfig, args []string, stdout io.Writer) error {
	f := newOutboxFlags("rekey", cfg)
	newFile := f.String("new-key-file", "", "the new key's file")
	if _, help, err := f.parse(args, stdout); help || err != nil {
		return err
	}
	if *newFile == "" || f.key == nil {
		return &usageError{"usage: GLP_DATA_KEY_FILE=CURRENT sidecar outbox rekey --new-key-file NEW"}
	}
	next, err := seal.ReadKeyFile(*newFile)
	if err != nil {
		return &config.Error{Var: "--new-key-file", Problem: err.Error()}
	}
	box, err := openRawOperatorStore(ctx, *f.db, *f.dbURL)
	if err != nil {
		return err
	}
	defer box.Close()
	n, err := seal.Rekey(ctx, box, *f.key, next)
	status := 0
	if err != nil {
		status = 1
	}
	if _, aerr := box.AppendAudit(context.WithoutCancel(ctx), sidecar.AuditEntry{At: time.Now(), User: cliUser(), Client: "local", Action: "outbox.rekey",
		Target: fmt.Sprintf("key %s to key %s", f.key.Fingerprint(), next.Fingerprint()), Status: status}); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return &config.Error{Var: "GLP_DATA_KEY_FILE", Problem: err.Error()}
	}
	return f.printer(stdout).count("rewrapped", n, fmt.Sprintf("data keys now under key %s: set GLP_DATA_KEY_FILE to the new file and restart the sidecars", next.Fingerprint()))
}
