package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
	_ "time/tzdata" // --tz and ?tz= work where the system has no zone files (distroless images)

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
)

const reportUsage = `usage: sidecar report [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--tz Area/City] [--test] [--csv|--json] [--db PATH | --db-url postgres://…]

The reconciliation report, from the outbox file (GLP_DB_PATH or --db), or
from PostgreSQL with GLP_DB_URL or --db-url: the events accepted each
day (UTC, or --tz), by the state they are in now. --test counts test events
instead of live ones. --csv prints one row per event accepted in the range,
live and test, with GLP Winner's conversion id, for matching its invoice.
--to defaults to today, --from to 30 days before it (366 days at most).`

// reportFlags are report's command line.
type reportFlags struct {
	db, dbURL, from, to, tz string
	test, csv, json         bool
}

// parseReportFlags reads report's command line; done is true when it asked
// for the usage, which is printed.
func parseReportFlags(args []string, cfg config.OutboxConfig, stdout io.Writer) (f reportFlags, done bool, err error) {
	fl := flag.NewFlagSet("report", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.StringVar(&f.db, "db", cfg.DBPath, "the outbox file")
	fl.StringVar(&f.dbURL, "db-url", cfg.DBURL.Value(), "the outbox in PostgreSQL")
	fl.StringVar(&f.from, "from", "", "first day")
	fl.StringVar(&f.to, "to", "", "last day")
	fl.StringVar(&f.tz, "tz", "", "time zone of the days")
	fl.BoolVar(&f.test, "test", false, "test events")
	fl.BoolVar(&f.csv, "csv", false, "one row per event")
	fl.BoolVar(&f.json, "json", false, "print JSON")
	if err := fl.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprintln(stdout, reportUsage)
			return f, true, nil
		}
		return f, false, &usageError{fmt.Sprintf("report: %v", err)}
	}
	if fl.NArg() > 0 || (f.csv && f.json) {
		return f, false, &usageError{"usage: sidecar report [--from D] [--to D] [--tz Z] [--test] [--csv|--json]"}
	}
	return f, false, nil
}

// reportQuery is the days the flags ask for; a bad one is a usage error
// naming its flag.
func (f reportFlags) reportQuery() (sidecar.ReportQuery, error) {
	q, err := sidecar.ParseReportQuery(f.from, f.to, f.tz, f.test, time.Now())
	if err != nil {
		var e *sidecar.Error
		if errors.As(err, &e) {
			for field, why := range e.Fields {
				return q, &usageError{fmt.Sprintf("report: --%s %s", field, why)}
			}
		}
		return q, err
	}
	return q, nil
}

// runReport prints the reconciliation report.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadOutbox()
	if err != nil {
		return err
	}
	warnUnknownTo(stderr)
	f, done, err := parseReportFlags(args, cfg, stdout)
	if done || err != nil {
		return err
	}
	q, err := f.reportQuery()
	if err != nil {
		return err
	}
	box, err := openOperatorStore(ctx, f.db, f.dbURL, cfg.DataKey)
	if err != nil {
		return err
	}
	defer box.Close()
	if f.csv {
		var escape func(string) string
		if isTerminal(stdout) { // a file keeps the values as they are; a terminal sees them escaped
			escape = escapeControl
		}
		return sidecar.WriteReportCSV(ctx, stdout, box, q, escape)
	}
	days, err := box.Report(ctx, q)
	if err != nil {
		return err
	}
	return printReport(printer{w: stdout, json: f.json}, q, days)
}

// printReport prints the days, as JSON or as a table with a total.
func printReport(out printer, q sidecar.ReportQuery, days []sidecar.ReportDay) error {
	if out.json {
		return out.encode(map[string]any{"from": q.From.Format(sidecar.DayLayout), "to": q.To.Format(sidecar.DayLayout), "tz": q.Loc.String(), "test": q.Test, "days": days})
	}
	rows := [][]string{{"DAY", "ACCEPTED", "DELIVERED", "DUPLICATE", "REJECTED", "UNCONFIRMED", "DEAD", "QUEUED", "POSSIBLE DOUBLE"}}
	var total sidecar.ReportDay
	total.Day = "total"
	for _, d := range days {
		rows = append(rows, reportCells(d))
		total.Accepted, total.Delivered, total.Duplicate, total.Rejected = total.Accepted+d.Accepted, total.Delivered+d.Delivered, total.Duplicate+d.Duplicate, total.Rejected+d.Rejected
		total.Unconfirmed, total.Dead, total.Queued, total.PossibleDouble = total.Unconfirmed+d.Unconfirmed, total.Dead+d.Dead, total.Queued+d.Queued, total.PossibleDouble+d.PossibleDouble
	}
	rows = append(rows, reportCells(total))
	kind := "live"
	if q.Test {
		kind = "test"
	}
	fmt.Fprintf(out.w, "%s events accepted %s to %s (%s), by the state they are in now\n\n", kind, q.From.Format(sidecar.DayLayout), q.To.Format(sidecar.DayLayout), q.Loc)
	return out.table(rows)
}

func reportCells(d sidecar.ReportDay) []string {
	return []string{d.Day, fmt.Sprint(d.Accepted), fmt.Sprint(d.Delivered), fmt.Sprint(d.Duplicate), fmt.Sprint(d.Rejected),
		fmt.Sprint(d.Unconfirmed), fmt.Sprint(d.Dead), fmt.Sprint(d.Queued), fmt.Sprint(d.PossibleDouble)}
}
