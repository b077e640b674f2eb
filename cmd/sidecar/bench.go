package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/glpwinner/glp-sidecar/bench"
	"github.com/glpwinner/glp-sidecar/config"
)

// runBench measures the sidecar against the machine's own ceiling.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	conns := fl.String("connections", "64,256", "comma-separated concurrency levels")
	dur := newDurationFlag(fl, "duration", 10*time.Second, "one accept run, split into rounds")
	rounds := fl.Int("rounds", 3, "slices of the ceiling and the sidecar taken in turn; the ratio is their median")
	backlog := fl.Int("backlog", 100000, "events queued while the upstream is down (1000000 on request; 0 skips)")
	workers := fl.Int("workers", 8, "GLP_RELAY_WORKERS of the sidecar under test")
	flood := fl.Bool("flood", false, "measure the accept rate alone and beside a landing flood (one address, many addresses) instead")
	ceiling := fl.String("serve-ceiling", "", "internal: serve the ceiling handler on this address")
	env, err := config.LoadOutbox() // --db-url's default: GLP_DB_URL or GLP_DB_URL_FILE
	if err != nil {
		return err
	}
	dbURL := fl.String("db-url", env.DBURL.Value(), "measure the outbox on PostgreSQL: each run gets a schema of its own in this database")
	fleet := fl.Int("fleet", 20000, "with --db-url: events drained by one, then two sidecars (0 skips)")
	keyFile := fl.String("data-key-file", "", "GLP_DATA_KEY_FILE of the sidecar under test: measure with personal data sealed at rest")
	if err := fl.Parse(args); err != nil {
		return flagError("bench: ", err)
	}
	if *ceiling != "" {
		ln, err := listen("ceiling", *ceiling)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ceiling at http://%s\n", ln.Addr())
		g, gctx := errgroup.WithContext(ctx)
		serveUntilDone(gctx, g, ln, bench.Ceiling(), discardLogger())
		return g.Wait()
	}
	if err := config.CheckDBURL("--db-url", config.Secret(*dbURL)); err != nil {
		return err
	}
	if *rounds < 1 {
		return &usageError{"--rounds takes a number of at least 1"}
	}
	var levels []int
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return &usageError{"--connections takes numbers such as 64,256"}
		}
		levels = append(levels, n)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "glp-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *flood {
		return bench.Flood(ctx, bench.FloodOptions{
			Exe:         exe,
			Connections: levels[0],
			FloodConns:  16,
			Duration:    *dur / time.Duration(*rounds),
			Rounds:      *rounds,
			Dir:         dir,
			Out:         stdout,
		})
	}
	return bench.Run(ctx, bench.Options{
		Exe:         exe,
		Connections: levels,
		Duration:    *dur,
		Rounds:      *rounds,
		Backlog:     *backlog,
		Workers:     *workers,
		Dir:         dir,
		DBURL:       *dbURL,
		Fleet:       *fleet,
		DataKeyFile: *keyFile,
		Out:         stdout,
	})
}
