// Command sidecar is glp-sidecar: the provider's half of GLP Winner's
// server-to-server conversion tracking, and a mock of GLP Winner to run it
// against. See `sidecar help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/glpwinner/glp-sidecar/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a command line that does not parse; it exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// command is one subcommand. One with flags of its own parses them itself,
// --help among them; one without takes no argument but --help (healthcheck
// and help: the one its usage names).
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	flags               bool
}

func commands() []command {
	return []command{
		{"serve", "", "run the sidecar (also: no subcommand)", runServe, false},
		{"mock", "", "run the mock GLP Winner upstream", runMock, false},
		{"demo", "", "run mock + sidecar (proxy mode) + a demo app on embedded defaults", runDemo, false},
		{"healthcheck", "[URL | HOST:PORT]", "exit 0 when the admin listener's /healthz (or the URL or address given) answers 200", runHealthcheck, false},
		{"outbox", "stats|list|show ID|retry ID…|retry --state dead|rejected|unconfirmed|purge|migrate --to URL", "operator commands on the outbox", runOutbox, true},
		{"report", "[--from D] [--to D] [--tz Z] [--test] [--csv|--json]", "the reconciliation report: events per day by state, or per event as CSV", runReport, true},
		{"audit", "[--from D] [--to D] [--verify] [--json]", "the admin audit log; --verify checks its hash chain", runAudit, true},
		{"bench", "[--connections 64,256] [--duration 10s] [--rounds 3] [--backlog N]", "measure the sidecar against this machine's ceiling", runBench, true},
		{"version", "", "print version, commit and Go version", runVersion, false},
		{"help", "[COMMAND]", "usage, with the table of environment variables", runHelp, false},
	}
}

// run dispatches to a subcommand; no subcommand means serve.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if name == "-h" || name == "--help" {
		name = "help"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		switch {
		case c.flags:
		case isHelp(args):
			// `sidecar serve --help` prints serve's help, never starts relaying.
			return runHelp(ctx, []string{name}, stdout, stderr)
		case c.args == "" && len(args) > 0:
			return &usageError{fmt.Sprintf("%s takes no arguments, not %q; run `sidecar help %s`", name, args[0], name)}
		}
		return c.run(ctx, args, stdout, stderr)
	}
	return &usageError{fmt.Sprintf("unknown command %q; run `sidecar help`", name)}
}

// isHelp reports whether a command line asks for help alone.
func isHelp(args []string) bool {
	return len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
}

// exitCode prints err, if any, and returns the exit status: 0 for a clean
// run, 2 for bad configuration or usage, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "sidecar:", escapeControl(err.Error())) // a database server's words among them
	var cerr *config.Error
	var uerr *usageError
	if errors.As(err, &cerr) || errors.As(err, &uerr) {
		return 2
	}
	return 1
}
