package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/glpwinner/glp-sidecar/config"
)

// Set by the linker: -X main.version=… -X main.commit=… (the release
// build, .goreleaser.yaml, and scripts/build-static.sh).
var (
	version = "dev"
	commit  = ""
)

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	info, _ := debug.ReadBuildInfo()
	c := commitOf(commit, info)
	_, err := fmt.Fprintf(stdout, "glp-sidecar %s (commit %s, %s %s/%s)\n", versionOf(version, info), c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if c == unknownCommit {
		fmt.Fprintln(stdout, `(no commit recorded: build from a git clone with VCS stamping on, not -buildvcs=false, or add -ldflags "-X main.commit=…")`)
	}
	return err
}

// commitOf is the commit the binary was built from: the linker's
// -X main.commit, else the VCS revision go build stamps in a git clone
// (with "+dirty" when the tree had changes), else the module's version
// (go install …@version), else unknownCommit.
func commitOf(linked string, info *debug.BuildInfo) string {
	if linked != "" {
		return linked
	}
	if info == nil {
		return unknownCommit
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		return rev + dirty
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return unknownCommit
}

const unknownCommit = "unknown"

// versionOf is the release the binary is: the linker's -X main.version (a
// release build: the git tag without its v), else the module's version
// that go records (go install …@v0.3.0, or go build in a clone checked out
// at a tag), else "dev".
func versionOf(linked string, info *debug.BuildInfo) string {
	if linked != "" && linked != "dev" {
		return linked
	}
	if info != nil {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			return strings.TrimPrefix(v, "v")
		}
	}
	return "dev"
}

func runHelp(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		for _, c := range commands() {
			if c.name == args[0] {
				fmt.Fprintf(stdout, "usage: %s\n\n%s\n", strings.TrimSpace("sidecar "+c.name+" "+c.args), c.summary)
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
				if c.name == "serve" || c.name == "check" { // check reads and checks serve's configuration
					return variables(stdout, &config.Config{})
				}
				if c.name == "demo" {
					return variables(stdout, &demoVariables{})
				}
				if c.name == "healthcheck" {
					return variables(stdout, &struct {
						AdminAddr string `envconfig:"ADMIN_ADDR" default:"127.0.0.1:8790" desc:"the admin listener asked when no URL is given"`
					}{})
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

// demoVariables are what moves sidecar demo; it needs nothing else.
type demoVariables struct {
	ListenAddr     string `envconfig:"LISTEN_ADDR" default:"127.0.0.1:8787" desc:"the sidecar in front of the demo app: open the landing URL it prints"`
	AdminAddr      string `envconfig:"ADMIN_ADDR" default:"127.0.0.1:8790" desc:"the sidecar's dashboard"`
	MockListenAddr string `envconfig:"MOCK_LISTEN_ADDR" default:"127.0.0.1:8788" desc:"the mock GLP Winner and its page"`
	DBPath         string `envconfig:"DB_PATH" default:"$TMPDIR/glp-sidecar-demo/outbox.db" desc:"the demo's outbox file"`
	LogLevel       string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat      string `envconfig:"LOG_FORMAT" default:"text" desc:"json or text"`
}
