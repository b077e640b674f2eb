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

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/internal/seal"
)

const outboxUsage = `usage: sidecar outbox COMMAND [--db PATH | --db-url postgres://…] [--json]

  stats                          counts per state and the oldest queued event
  list [--state S] [--limit N]   events, newest first
  show ID                        one event with every attempt and GLP Winner's answers
  retry ID…                      send rejected, unconfirmed or dead events again
  retry --state dead|rejected|unconfirmed
                                 send every event in that state again
  purge [--older-than 720h]      delete delivered and duplicate events finished before then
  migrate [--to postgres://…]    copy the file's events (queued ones to be delivered by the fleet) to PostgreSQL:
                                 --to, else GLP_DB_URL or GLP_DB_URL_FILE; events PostgreSQL refuses are listed
  rekey --new-key-file F         re-wrap the data keys under a new GLP_DATA_KEY_FILE (key rotation)

The file is GLP_DB_PATH (glp-sidecar.db), or --db; with GLP_DB_URL, GLP_DB_URL_FILE or --db-url, the
outbox in PostgreSQL that the fleet shares. A URL on the command line (--db-url, --to) shows in ps
with its password: prefer GLP_DB_URL_FILE. Safe while sidecar serve runs.`

// runOutbox runs the operator commands on the outbox: each command is a
// function of its own (outbox_*.go) that defines only the flags it takes,
// so that a flag which does not apply is a usage error naming it.
func runOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, outboxUsage)
		if len(args) == 0 {
			return &usageError{"outbox needs a command: stats, list, show, retry or purge"}
		}
		return nil
	}
	cmd, args := args[0], args[1:]
	run, ok := map[string]func(context.Context, config.OutboxConfig, []string, io.Writer) error{
		"stats":   outboxStats,
		"list":    outboxList,
		"show":    outboxShow,
		"retry":   outboxRetry,
		"purge":   outboxPurge,
		"migrate": outboxMigrate,
		"rekey":   outboxRekey,
	}[cmd]
	if !ok {
		return &usageError{fmt.Sprintf("unknown outbox command %q; run `sidecar outbox help`", cmd)}
	}
	cfg, err := config.LoadOutbox()
	if err != nil {
		return err
	}
	warnUnknownTo(stderr)
	return run(ctx, cfg, args, stdout)
}

// outboxFlags are the flags of one outbox command: those that every command
// on the store takes (--db, --db-url, --json), and the command's own, which
// it defines on the embedded FlagSet before parse.
type outboxFlags struct {
	*flag.FlagSet
	db     *string
	dbURL  *string
	asJSON *bool
	key    *seal.Key // GLP_DATA_KEY_FILE
}

func newOutboxFlags(cmd string, cfg config.OutboxConfig) *outboxFlags {
	f := newFileFlags(cmd, cfg)
	f.dbURL = f.String("db-url", cfg.DBURL.Value(), "the outbox in PostgreSQL")
	return f
}

// newFileFlags are --db and --json without --db-url: for migrate, which
// reads the file whatever GLP_DB_URL says.
func newFileFlags(cmd string, cfg config.OutboxConfig) *outboxFlags {
	fl := flag.NewFlagSet("outbox "+cmd, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	return &outboxFlags{
		FlagSet: fl,
		db:      fl.String("db", cfg.DBPath, "the outbox file"),
		asJSON:  fl.Bool("json", false, "print JSON"),
		key:     cfg.DataKey,
	}
}

// parse parses args and returns the arguments that are not flags. help is
// true when --help was asked for: the usage is printed and the command is
// done.
func (f *outboxFlags) parse(args []string, stdout io.Writer) (rest []string, help bool, err error) {
	rest, err = parseInterspersed(f.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, outboxUsage)
		return nil, true, nil
	}
	if err != nil {
		return nil, false, flagError(f.Name()+": ", err)
	}
	return rest, false, nil
}

// withStore opens the store the flags name, hands it to do and closes it.
func (f *outboxFlags) withStore(ctx context.Context, do func(sidecar.Store) error) error {
	box, err := openOperatorStore(ctx, *f.db, *f.dbURL, f.key)
	if err != nil {
		return err
	}
	defer box.Close()
	return do(box)
}

func (f *outboxFlags) printer(w io.Writer) printer { return printer{w: w, json: *f.asJSON} }

// openOperatorStore opens the outbox of a running (or stopped) sidecar for
// an operator's command: the PostgreSQL database at dbURL when it is set,
// else the file at path, which it never creates.
func openOperatorStore(ctx context.Context, path, dbURL string, key *seal.Key) (*openedStore, error) {
	if err := config.CheckDBURL("--db-url", config.Secret(dbURL)); err != nil {
		return nil, err
	}
	o := storeOptions{URL: dbURL, Path: path, Key: key}
	if !o.shared() {
		if err := fileExists(path); err != nil {
			return nil, err
		}
	}
	return openStore(ctx, o)
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
