package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
)

const outboxUsage = `usage: sidecar outbox COMMAND [--db PATH | --db-url postgres://…] [--json]

  stats                          counts per state and the oldest queued event
  list [--state S] [--limit N]   events, newest first
  show ID                        one event with every attempt and GLP Winner's answers
  retry ID…                      send rejected, unconfirmed or dead events again
  retry --state dead|rejected|unconfirmed
                                 send every event in that state again
  purge [--older-than 720h]      delete delivered and duplicate events finished before then
  migrate --to postgres://…      copy the file's events (queued ones to be delivered by the fleet) to PostgreSQL

The file is GLP_DB_PATH (glp-sidecar.db), or --db; with GLP_DB_URL or --db-url, the outbox in
PostgreSQL that the fleet shares. Safe while sidecar serve runs.`

// runOutbox runs the operator commands on the outbox file.
func runOutbox(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, outboxUsage)
		if len(args) == 0 {
			return &usageError{"outbox needs a command: stats, list, show, retry or purge"}
		}
		return nil
	}
	cmd, args := args[0], args[1:]
	cfg, err := config.LoadOutbox()
	if err != nil {
		return err
	}
	fl := flag.NewFlagSet("outbox "+cmd, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	db := fl.String("db", cfg.DBPath, "the outbox file")
	dbURL := fl.String("db-url", cfg.DBURL.Value(), "the outbox in PostgreSQL")
	asJSON := fl.Bool("json", false, "print JSON")
	state := fl.String("state", "", "a state")
	limit := fl.Int("limit", 50, "how many")
	olderThan := newDurationFlag(fl, "older-than", 720*time.Hour, "age")
	to := fl.String("to", "", "migrate: the PostgreSQL database to copy the file's events to")
	ids, err := parseInterspersed(fl, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, outboxUsage)
		return nil
	}
	if err != nil {
		return flagError("outbox "+cmd+": ", err)
	}
	if err := config.CheckDBURL("--db-url", config.Secret(*dbURL)); err != nil {
		return err
	}
	if cmd == "migrate" {
		return migrateOutbox(ctx, *db, *to, printer{w: stdout, json: *asJSON})
	}
	box, err := openOperatorStore(ctx, *db, *dbURL)
	if err != nil {
		return err
	}
	defer box.Close()
	out := printer{w: stdout, json: *asJSON}
	switch cmd {
	case "stats":
		st, err := box.Stats(ctx)
		if err != nil {
			return err
		}
		return out.stats(st)
	case "list":
		s := sidecar.State(*state)
		if s != "" && !s.Valid() {
			return &usageError{"--state must be one of " + sidecar.StateNames(sidecar.States())}
		}
		events, err := box.List(ctx, s, "", *limit)
		if err != nil {
			return err
		}
		return out.list(events)
	case "show":
		if len(ids) != 1 {
			return &usageError{"usage: sidecar outbox show ID"}
		}
		e, attempts, err := box.Get(ctx, ids[0])
		if err != nil {
			return err
		}
		return out.show(e, attempts)
	case "retry":
		var n int
		switch {
		case *state != "" && len(ids) == 0:
			n, err = box.RetryState(ctx, sidecar.State(*state))
		case *state == "" && len(ids) > 0:
			n, err = box.Retry(ctx, ids...)
		default:
			return &usageError{"outbox retry takes event ids, or --state dead|rejected|unconfirmed (one of the two)"}
		}
		if err != nil {
			return err
		}
		return out.count("requeued", n, whoSends(ctx, n))
	case "purge":
		n, err := box.Purge(ctx, *olderThan)
		if err != nil {
			return err
		}
		return out.count("purged", n, "delivered and duplicate events finished more than "+olderThan.String()+" ago")
	}
	return &usageError{fmt.Sprintf("unknown outbox command %q; run `sidecar outbox help`", cmd)}
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

// openOperatorStore opens the outbox of a running (or stopped) sidecar for
// an operator's command: the PostgreSQL database at dbURL when it is set,
// else the file at path, which it never creates.
func openOperatorStore(ctx context.Context, path, dbURL string) (sidecar.Store, error) {
	if err := config.CheckDBURL("--db-url", config.Secret(dbURL)); err != nil {
		return nil, err
	}
	if dbURL == "" {
		if err := fileExists(path); err != nil {
			return nil, err
		}
	}
	return openStore(ctx, storeOptions{URL: dbURL, Path: path})
}

// fileExists says, when there is no outbox file at path, where to point the
// command instead: operator commands never create one.
func fileExists(path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no outbox at %s: set GLP_DB_PATH or --db to the sidecar's file", path)
	}
	return nil
}

// parseInterspersed parses flags wherever they stand among the arguments
// (`show ID --json` as well as `show --json ID`) and returns the others.
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		if fl.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fl.Arg(0))
		args = fl.Args()[1:]
	}
}

// printer writes tables for people, or JSON with --json.
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) encode(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (p printer) table(rows [][]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = quoteControl(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// quoteControl shows a value that holds a control or otherwise unprintable
// character (a terminal escape, a new line that would fake a log line or a
// table row) as a Go-quoted string, so that what reaches the terminal is
// only text; other values stay as they are.
func quoteControl(s string) string {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
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

func (p printer) count(what string, n int, note string) error {
	if p.json {
		return p.encode(map[string]int{what: n})
	}
	_, err := fmt.Fprintf(p.w, "%s %d (%s)\n", what, n, note)
	return err
}

// stateCell is the state, marked when GLP Winner may hold the event twice.
func stateCell(e sidecar.Event) string {
	if e.PossibleDouble {
		return string(e.State) + " (possible double)"
	}
	return string(e.State)
}

// outcomeCell is the attempt's outcome, with how many identical probes its
// row stands for.
func outcomeCell(a sidecar.Attempt) string {
	if a.Repeats > 1 {
		return fmt.Sprintf("%s ×%d (last %s)", a.Outcome, a.Repeats, a.LastAt.Format(time.RFC3339))
	}
	return a.Outcome
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func source(s string) string {
	if s == "" {
		return ""
	}
	return " (from " + strings.ReplaceAll(s, "_", " ") + ")"
}

func lastAnswer(status int, errText string) string {
	switch {
	case status > 0:
		return fmt.Sprint(status)
	case errText != "":
		return "no answer"
	}
	return "-"
}
