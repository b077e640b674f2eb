package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/admin"
	"github.com/glpwinner/glp-sidecar/capture"
	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/ingest"
	"github.com/glpwinner/glp-sidecar/relay"
)

const (
	maxWaiters = 256 // server calls holding a ?wait= at once; more are answered 202 at once
)

func runServe(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	setGCPercent()
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := config.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	return serve(ctx, cfg, log, stdout, nil)
}

// gcPercent is the sidecar's GOGC unless the environment sets one: a burst
// allocates ~70 short-lived objects per accept, and letting the heap grow by
// twice the live heap rather than once between collections collects half as
// often, for a few MB (BENCHMARKS.md has both).
const gcPercent = 200

func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

// dataPathError names GLP_DB_PATH when the outbox could not be opened
// because of its path (a directory that cannot be made, a file that cannot
// be written): bad configuration, exit 2.
func dataPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &config.Error{Var: "GLP_DB_PATH", Problem: err.Error()}
	}
	return err
}

// serve runs the sidecar until ctx ends: the outbox, the public listener
// and the admin listener. It prints the listeners' URLs to stdout, then
// calls ready (when not nil) with their addresses.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, ready func(public, admin string)) error {
	started := time.Now()
	var box sidecar.Store
	var rl *relay.Relay
	// Read at scrape time, once the listeners run: box and rl are set by then.
	metrics := admin.NewMetrics(admin.StatsFunc(func(ctx context.Context) (sidecar.Stats, error) { return box.Stats(ctx) }),
		func() sidecar.RelayStatus { return rl.Status() }, nil)
	where := storeOptions{URL: cfg.DBURL.Value(), Path: cfg.DBPath, Logger: log, Observer: metrics}
	box, err := openStore(ctx, where)
	if err != nil {
		return dataPathError(err)
	}
	defer box.Close()

	rl, err = relay.New(relay.Options{
		Observer: metrics,
		Store:    box, BaseURL: cfg.APIURL, ProviderID: cfg.ProviderID, Token: cfg.APIToken.Value(), TestMode: cfg.TestMode,
		Workers: cfg.RelayWorkers, RequestTimeout: cfg.RequestTimeout,
		RetryInitial: cfg.RetryInitial, RetryMaxInterval: cfg.RetryMaxIntvl, RetryMaxAge: cfg.RetryMaxAge, Logger: log,
	})
	if err != nil {
		return err
	}
	clicks := capture.NewClickLog(capture.ClickLogOptions{Store: box, Observer: metrics, Logger: log})
	capOpts := capture.Options{
		CookieName: cfg.CookieName, MaxAge: cfg.CookieMaxAge, Domain: cfg.CookieDomain, Param: cfg.ClickParam,
		Trusted: cfg.Trusted, Recorder: clicks, Logger: log,
	}
	script, err := capture.Script(capOpts, ingest.Paths()[0])
	if err != nil {
		return err
	}
	app := handleNoApp()
	if cfg.AppURL != "" {
		target, _ := url.Parse(cfg.AppURL) // validated by config
		if app, err = capture.NewProxy(capture.ProxyOptions{Target: target, Trusted: cfg.Trusted, Logger: log}); err != nil {
			return err
		}
	}
	var matcher ingest.ClickMatcher
	if cfg.LocalMatch {
		matcher = box
	}
	ing, err := ingest.New(ingest.Options{
		Observer:       metrics,
		Refusals:       metrics,
		IngestToken:    cfg.IngestToken.Value(),
		Store:          box,
		Waiter:         waiter(where, relay.LimitWaiters(rl, maxWaiters), box),
		Notify:         rl.Notify,
		Matcher:        matcher,
		Trusted:        cfg.Trusted,
		AllowedOrigins: cfg.AllowedOrigins,
		RateLimit:      cfg.RateLimit,
		RateBurst:      cfg.RateBurst,
		TestMode:       cfg.TestMode,
		CookieName:     cfg.CookieName,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	// draining is done when SIGTERM comes: /readyz fails at once; the
	// listeners go on for GLP_SHUTDOWN_DELAY, so that a load balancer that
	// still sends traffic is served, and then shut down.
	draining := ctx
	ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		select {
		case <-draining.Done():
			if cfg.ShutdownDelay > 0 {
				log.Info("draining", "for", cfg.ShutdownDelay.String())
				time.Sleep(cfg.ShutdownDelay)
			}
			stop()
		case <-ctx.Done():
		}
	}()
	adm, err := admin.New(admin.Options{
		Token:   cfg.AdminToken.Value(),
		Hosts:   cfg.AdminHosts,
		Trusted: cfg.Trusted,
		Store:   box,
		Relay:   rl,
		Metrics: metrics,
		Pprof:   cfg.Pprof,
		Logger:  log,
		Checks: []admin.Check{
			{Name: "shutdown", Fn: func(context.Context) error {
				if draining.Err() != nil {
					return errors.New("shutting down")
				}
				return nil
			}},
			{Name: "outbox", Fn: func(c context.Context) error {
				if err := box.LastWriteError(); err != nil {
					return err
				}
				return box.Writable(c)
			}},
		},
	})
	if err != nil {
		return err
	}

	pub, err := listenVar("GLP_LISTEN_ADDR", cfg.ListenAddr)
	if err != nil {
		return err
	}
	adm2, err := listenVar("GLP_ADMIN_ADDR", cfg.AdminAddr)
	if err != nil {
		pub.Close()
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	servePublic(gctx, g, pub, publicRoutes(ing, script, capture.Middleware(capOpts)(app), metrics.Instrument("public")), log)
	serveUntilDone(gctx, g, adm2, adm, log)
	g.Go(func() error { box.Maintain(gctx, cfg.Retention, sidecar.MaintainEvery(cfg.Retention)); return nil })
	g.Go(func() error { return rl.Run(gctx) })
	g.Go(func() error { clicks.Run(gctx); return nil })
	g.Go(func() error { return box.Listen(gctx, rl.Notify) }) // events queued by other sidecars and commands

	fmt.Fprintf(stdout, "glp-sidecar: conversions at http://%s/glp-s2s-conversion · admin at http://%s/admin/\n", pub.Addr(), adm2.Addr())
	if cfg.AppURL != "" {
		fmt.Fprintf(stdout, "glp-sidecar: in front of %s at http://%s/\n", cfg.AppURL, pub.Addr())
	}
	log.Info("sidecar ready", "public", pub.Addr().String(), "admin", adm2.Addr().String(), "db", storeName(where),
		"upstream", cfg.APIURL, "app", cfg.AppURL, "provider_id", cfg.ProviderID, "test_mode", cfg.TestMode,
		"server_calls", cfg.IngestToken != "", "local_match", cfg.LocalMatch, "start_ms", time.Since(started).Milliseconds())
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	if ready != nil {
		ready(pub.Addr().String(), adm2.Addr().String())
	}
	err = g.Wait()
	log.Info("sidecar stopped")
	return err
}
