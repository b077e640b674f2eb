package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/glpwinner/glp-sidecar/config"
)

// Set by the linker: -X main.version=… -X main.commit=….
var (
	version = "dev"
	commit  = ""
)

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	c := commit
	if c == "" {
		c = "unknown"
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	_, err := fmt.Fprintf(stdout, "glp-sidecar %s (commit %s, %s %s/%s)\n", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}

func runHelp(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		for _, c := range commands() {
			if c.name == args[0] {
				fmt.Fprintf(stdout, "usage: sidecar %s %s\n\n%s\n", c.name, c.args, c.summary)
				if c.name == "outbox" {
					_, err := fmt.Fprintln(stdout, "\n"+outboxUsage)
					return err
				}
				if c.name == "report" {
					_, err := fmt.Fprintln(stdout, "\n"+reportUsage)
					return err
				}
				if c.name == "mock" {
					return variables(stdout, &config.MockConfig{})
				}
				if c.name == "serve" || c.name == "demo" {
					return variables(stdout, &config.Config{})
				}
				return nil
			}
		}
		return &usageError{fmt.Sprintf("unknown command %q; run `sidecar help`", args[0])}
	}
	fmt.Fprintln(stdout, "glp-sidecar: the provider's half of GLP Winner's S2S conversion tracking.")
	fmt.Fprintln(stdout, "\nusage: sidecar [COMMAND] [ARGS]   (no command: serve)\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(stdout, "  %-12s %s\n", c.name, c.summary)
		if c.args != "" {
			fmt.Fprintf(stdout, "  %-12s   sidecar %s %s\n", "", c.name, c.args)
		}
	}
	fmt.Fprintln(stdout, "\n`sidecar help COMMAND` shows one command and its variables.")
	return variables(stdout, &config.Config{}, &config.MockConfig{})
}

func variables(w io.Writer, specs ...any) error {
	fmt.Fprintln(w, "\nenvironment (variable, default, meaning):")
	return config.Usage(w, specs...)
}
