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
	"strings"
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

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "", "run the sidecar (also: no subcommand)", runServe},
		{"mock", "", "run the mock GLP Winner upstream", runMock},
		{"demo", "", "run mock + sidecar (proxy mode) + a demo app on embedded defaults", runDemo},
		{"healthcheck", "[URL | HOST:PORT]", "exit 0 when the admin listener's /healthz (or the URL or address given) answers 200", runHealthcheck},
		{"outbox", "stats|list|show ID|retry ID…|retry --state dead|rejected|unconfirmed|purge|migrate --to URL", "operator commands on the outbox", runOutbox},
		{"report", "[--from D] [--to D] [--tz Z] [--test] [--csv|--json]", "the reconciliation report: events per day by state, or per event as CSV", runReport},
		{"bench", "[--connections 64,256] [--duration 10s] [--rounds 3] [--backlog N]", "measure the sidecar against this machine's ceiling", runBench},
		{"version", "", "print version, commit and Go version", runVersion},
		{"help", "[COMMAND]", "usage, with the table of environment variables", runHelp},
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
		if c.name == name {
			if err := plainArgs(c, args); err != nil || (isHelp(args) && !c.hasFlags()) {
				if err == nil {
					err = runHelp(ctx, []string{name}, stdout, stderr)
				}
				return err
			}
			return c.run(ctx, args, stdout, stderr)
		}
	}
	return &usageError{fmt.Sprintf("unknown command %q; run `sidecar help`", name)}
}

// hasFlags reports whether the command parses flags of its own, --help
// among them.
func (c command) hasFlags() bool { return strings.Contains(c.args, "--") }

// isHelp reports whether a command line asks for help alone.
func isHelp(args []string) bool {
	return len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
}

// plainArgs refuses arguments to the commands that take none (serve,
// mock, demo, version): `sidecar serve --help` must print serve's help,
// never start relaying, and `sidecar serve --port 80` must say that it
// means nothing. Commands with flags of their own parse them themselves.
func plainArgs(c command, args []string) error {
	if c.args != "" || len(args) == 0 || isHelp(args) {
		return nil
	}
	return &usageError{fmt.Sprintf("%s takes no arguments, not %q; run `sidecar help %s`", c.name, args[0], c.name)}
}

// exitCode prints err, if any, and returns the exit status: 0 for a clean
// run, 2 for bad configuration or usage, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "sidecar:", err)
	var cerr *config.Error
	var uerr *usageError
	if errors.As(err, &cerr) || errors.As(err, &uerr) {
		return 2
	}
	return 1
}
