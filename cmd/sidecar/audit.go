package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/user"
	"strconv"
	"strings"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
)

const auditUsage = `usage: sidecar audit [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--verify] [--json] [--db PATH | --db-url postgres://…]

The admin audit log: every admin request that read personal data (events, an
event, clicks, the CSV) or changed something (retry), and the operator
commands that changed something (outbox retry, purge), with time, user, client
address, action, the ids or range it touched, and the answer. --to defaults to
today, --from to 30 days before it. --verify checks the whole log's hash chain
instead and exits 1 naming the first line that was edited or follows a deleted
one.`

// maxAuditTarget bounds what an operator's command line puts in a line.
const maxAuditTarget = 512

// auditLineLimit bounds the lines sidecar audit prints of a range.
const auditLineLimit = 1_000_000

func runAudit(ctx context.Context, args []string, stdout, _ io.Writer) error {
	cfg, err := config.LoadOutbox()
	if err != nil {
		return err
	}
	fl := flag.NewFlagSet("audit", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	db := fl.String("db", cfg.DBPath, "the outbox file")
	dbURL := fl.String("db-url", cfg.DBURL.Value(), "the outbox in PostgreSQL")
	from := fl.String("from", "", "first day")
	to := fl.String("to", "", "last day")
	verify := fl.Bool("verify", false, "check the hash chain")
	asJSON := fl.Bool("json", false, "print JSON")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, auditUsage)
			return nil
		}
		return &usageError{fmt.Sprintf("audit: %v", err)}
	}
	if fl.NArg() > 0 {
		return &usageError{"usage: sidecar audit [--from D] [--to D] [--verify] [--json]"}
	}
	q, err := sidecar.ParseReportQuery(*from, *to, "UTC", false, time.Now())
	if err != nil {
		var se *sidecar.Error
		if errors.As(err, &se) {
			for field, why := range se.Fields {
				return &usageError{fmt.Sprintf("audit: --%s %s", field, why)}
			}
		}
		return err
	}
	// The audit holds no personal data: it opens without the data key.
	box, err := openRawOperatorStore(ctx, *db, *dbURL)
	if err != nil {
		return err
	}
	defer box.Close()
	if *verify {
		return verifyAudit(ctx, box, stdout)
	}
	p := printer{w: stdout, json: *asJSON}
	var lines []sidecar.AuditEntry
	if _, err := box.AuditLines(ctx, q.From, q.To.AddDate(0, 0, 1), func(e sidecar.AuditEntry) error {
		if len(lines) >= auditLineLimit {
			return errors.New("more than a million lines: narrow --from and --to")
		}
		lines = append(lines, e)
		return nil
	}); err != nil {
		return err
	}
	if p.json {
		return p.encode(lines)
	}
	rows := [][]string{{"SEQ", "TIME", "USER", "CLIENT", "ACTION", "TARGET", "STATUS"}}
	for _, e := range lines {
		rows = append(rows, []string{strconv.FormatInt(e.Seq, 10), e.At.Format(time.RFC3339), e.User, e.Client, e.Action, e.Target, strconv.Itoa(e.Status)})
	}
	return p.table(rows)
}

// errAuditBroken is a broken chain: exit 1 with the line named.
var errAuditBroken = errors.New("the audit log was tampered with")

func verifyAudit(ctx context.Context, store sidecar.AuditStore, stdout io.Writer) error {
	var v *sidecar.AuditVerifier
	var bad error
	var lines []sidecar.AuditEntry
	anchor, err := store.AuditLines(ctx, time.Time{}, time.Time{}, func(e sidecar.AuditEntry) error {
		lines = append(lines, e)
		return nil
	})
	if err != nil {
		return err
	}
	v = sidecar.NewAuditVerifier(anchor)
	for _, e := range lines {
		if bad = v.Check(e); bad != nil {
			return fmt.Errorf("%w: %w", errAuditBroken, bad)
		}
	}
	_, err = fmt.Fprintf(stdout, "audit log intact: %d lines chained from %s\n", v.Lines, dash(anchor))
	return err
}

// auditRetainEvery is how often the audit log's old lines are deleted.
const auditRetainEvery = time.Hour

// retainAudit deletes the audit lines older than retention every hour
// until ctx ends.
func retainAudit(ctx context.Context, store sidecar.AuditStore, retention time.Duration, log *slog.Logger) {
	sidecar.RetainEvery(ctx, slog.New(slog.DiscardHandler), retention, auditRetainEvery, func(ctx context.Context, age time.Duration) (int, error) {
		n, err := store.RetainAudit(ctx, age)
		if n > 0 {
			log.Info("deleted audit lines past GLP_AUDIT_RETENTION", "lines", n)
		}
		if err != nil {
			log.Warn("audit retention failed", "err", err)
		}
		return 0, nil
	})
}

// cliUser is the operator running a command, as the audit names them.
func cliUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:unknown"
}

// withAudit is withStore for a command that changes the outbox: the change
// is recorded in the audit log as the operator's, with target, and whether
// it was done (0) or failed (1).
func (f *outboxFlags) withAudit(ctx context.Context, action, target string, do func(sidecar.Store) error) error {
	box, err := openOperatorStore(ctx, *f.db, *f.dbURL, f.key)
	if err != nil {
		return err
	}
	defer box.Close()
	err = do(box)
	status := 0
	if err != nil {
		status = 1
	}
	e := sidecar.AuditEntry{At: time.Now(), User: cliUser(), Client: "local", Action: action, Target: sidecar.Clip(strings.TrimSpace(target), maxAuditTarget), Status: status}
	if _, aerr := box.Audit.AppendAudit(context.WithoutCancel(ctx), e); aerr != nil {
		return errors.Join(err, fmt.Errorf("the audit log did not record this %s: %w", action, aerr))
	}
	return err
}

// openRawOperatorStore opens the outbox for a command that reads no
// personal data (the audit, key rotation): no data key is checked.
func openRawOperatorStore(ctx context.Context, path, dbURL string) (rawStore, error) {
	if err := config.CheckDBURL("--db-url", config.Secret(dbURL)); err != nil {
		return nil, err
	}
	if dbURL == "" {
		if err := fileExists(path); err != nil {
			return nil, err
		}
	}
	return openRaw(ctx, storeOptions{URL: dbURL, Path: path})
}
