package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"sync/atomic"
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
	warnUnknown(log)
	m := NewMain(cfg, log, stdout)
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case <-m.Done():
	}
	return m.Close()
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

// Main is the sidecar process: the outbox, the relay, the public listener
// (conversions, glp.js, click capture, the app behind) and the admin
// listener. Run builds the parts in the order they depend on each other
// and starts them; Close drains and stops them.
type Main struct {
	cfg    config.Config
	log    *slog.Logger
	stdout io.Writer

	metrics *admin.Metrics
	store   sidecar.Store
	audit   sidecar.AuditStore
	relay   *relay.Relay
	clicks  *capture.ClickLog
	public  net.Listener
	admin   net.Listener

	draining atomic.Bool // set by Close: /readyz fails from then on
	running  context.Context
	stop     context.CancelFunc
	parts    *errgroup.Group
}

// NewMain returns the sidecar configured by cfg, logging to log and
// printing its addresses to stdout once it runs.
func NewMain(cfg config.Config, log *slog.Logger, stdout io.Writer) *Main {
	return &Main{
		cfg:    cfg,
		log:    log,
		stdout: stdout,
	}
}

// Run opens the outbox, binds the listeners and starts every part; it
// returns once the sidecar serves (its addresses printed), or with the
// error that kept it from starting, after which Close releases what was
// opened. ctx bounds the start-up only: the parts run until Close.
func (m *Main) Run(ctx context.Context) error {
	started := time.Now()
	m.metrics = admin.NewMetrics(nil)
	box, err := openStore(ctx, m.storeOptions())
	if err != nil {
		return dataPathError(err)
	}
	m.store, m.audit = box, box.Audit
	if m.relay, err = m.newRelay(); err != nil {
		return err
	}
	m.metrics.Watch(m.store, m.relay)
	m.clicks = capture.NewClickLog(capture.ClickLogOptions{
		Store:     m.store,
		Observer:  m.metrics,
		Logger:    m.component("clicklog"),
		MaxClicks: m.cfg.MaxClicks,
	})
	public, err := m.publicHandler()
	if err != nil {
		return err
	}
	adm, err := m.adminHandler()
	if err != nil {
		return err
	}
	if err := m.listen(); err != nil {
		return err
	}
	m.start(context.WithoutCancel(ctx), public, adm)
	m.announce(started)
	return nil
}

// Done is closed when a part stopped with an error (Close says which), or
// once Close stopped them all.
func (m *Main) Done() <-chan struct{} {
	if m.running == nil {
		return nil
	}
	return m.running.Done()
}

// PublicAddr is the public listener's address, once Run returned.
func (m *Main) PublicAddr() string { return m.public.Addr().String() }

// AdminAddr is the admin listener's address, once Run returned.
func (m *Main) AdminAddr() string { return m.admin.Addr().String() }

// Close stops the sidecar: it drains, shuts the listeners down (letting
// requests in flight finish), stops the relay and the outbox's upkeep, and
// closes the outbox. It returns the error that stopped a part, if any.
func (m *Main) Close() error {
	var err error
	if m.parts != nil {
		m.drain()
		m.stop()
		err = m.parts.Wait()
		m.log.Info("sidecar stopped")
	} else {
		closeAll(m.public, m.admin) // bound, never served
	}
	if m.store != nil {
		m.store.Close()
	}
	return err
}

// drain is the first step of a stop: /readyz fails at once, and the
// listeners go on for GLP_SHUTDOWN_DELAY, so that a load balancer that
// still sends traffic is served. A part that failed cuts it short.
func (m *Main) drain() {
	m.draining.Store(true)
	if m.cfg.ShutdownDelay <= 0 || m.running.Err() != nil {
		return
	}
	m.log.Info("draining", "for", m.cfg.ShutdownDelay.String())
	t := time.NewTimer(m.cfg.ShutdownDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-m.running.Done():
	}
}

// component is the logger of one part of the sidecar.
func (m *Main) component(name string) *slog.Logger { return m.log.With("component", name) }

func (m *Main) storeOptions() storeOptions {
	return storeOptions{
		URL:      m.cfg.DBURL.Value(),
		Path:     m.cfg.DBPath,
		Logger:   m.component("outbox"),
		Observer: m.metrics,
		Key:      m.cfg.DataKey,
	}
}

func (m *Main) newRelay() (*relay.Relay, error) {
	return relay.New(relay.Options{
		Store:            m.store,
		Observer:         m.metrics,
		BaseURL:          m.cfg.APIURL,
		ProviderID:       m.cfg.ProviderID,
		Token:            m.cfg.APIToken.Value(),
		TestMode:         m.cfg.TestMode,
		SendPersonal:     m.cfg.SendPolicy,
		Workers:          m.cfg.RelayWorkers,
		RequestTimeout:   m.cfg.RequestTimeout,
		RetryInitial:     m.cfg.RetryInitial,
		RetryMaxInterval: m.cfg.RetryMaxIntvl,
		RetryMaxAge:      m.cfg.RetryMaxAge,
		Logger:           m.component("relay"),
	})
}

// publicHandler is the public listener's: conversions, glp.js, and the
// app (or a 404 that says how to set one) through click capture.
func (m *Main) publicHandler() (http.Handler, error) {
	signer, landings, err := m.browserCallParts()
	if err != nil {
		return nil, err
	}
	capOpts := capture.Options{
		Signer:     signer,
		CookieName: m.cfg.CookieName,
		MaxAge:     m.cfg.CookieMaxAge,
		Domain:     m.cfg.CookieDomain,
		Param:      m.cfg.ClickParam,
		Trusted:    m.cfg.Trusted,
		Recorder:   m.clicks,
		Logger:     m.component("capture"),
	}
	script, err := capture.Script(capOpts, ingest.Paths()[0], ingest.LandingPath)
	if err != nil {
		return nil, err
	}
	app := handleNoApp()
	if m.cfg.AppURL != "" {
		target, _ := url.Parse(m.cfg.AppURL) // validated by config
		app, err = capture.NewProxy(capture.ProxyOptions{
			Target:  target,
			Trusted: m.cfg.Trusted,
			Logger:  capOpts.Logger,
		})
		if err != nil {
			return nil, err
		}
	}
	ing, err := m.newIngest(signer, landings)
	if err != nil {
		return nil, err
	}
	return publicRoutes(ing, ing.LandingHandler(), script, capture.Middleware(capOpts)(app), m.metrics.Instrument("public")), nil
}

func (m *Main) newIngest(signer *sidecar.ClickSigner, landings ingest.LandingFinder) (*ingest.Handler, error) {
	var matcher ingest.ClickMatcher
	if m.cfg.LocalMatch {
		matcher = m.store
	}
	return ingest.New(ingest.Options{
		Observer:       m.metrics,
		Refusals:       m.metrics,
		IngestToken:    m.cfg.IngestToken.Value(),
		Store:          m.store,
		Waiter:         waiter(m.storeOptions(), relay.LimitWaiters(m.relay, maxWaiters, m.metrics.WaitCapReached), m.store),
		Notify:         m.relay.Notify,
		Matcher:        matcher,
		Trusted:        m.cfg.Trusted,
		AllowedOrigins: m.cfg.AllowedOrigins,
		RateLimit:      m.cfg.RateLimit,
		RateBurst:      m.cfg.RateBurst,
		TestMode:       m.cfg.TestMode,
		CookieName:     m.cfg.CookieName,
		BrowserCalls:   m.cfg.BrowserCalls,
		Signer:         signer,
		Landings:       landings,
		LandingWindow:  m.cfg.CookieMaxAge,
		Reports:        m.clicks,
		Logger:         m.component("ingest"),
	})
}

// adminHandler is the admin listener's: health, readiness, metrics, the
// admin API and the dashboard.
func (m *Main) adminHandler() (http.Handler, error) {
	return admin.New(admin.Options{
		Token:   m.cfg.AdminToken.Value(),
		Hosts:   m.cfg.AdminHosts,
		Trusted: m.cfg.Trusted,
		Store:   m.store,
		Relay:   m.relay,
		Metrics: m.metrics,
		Pprof:   m.cfg.Pprof,
		Logger:  m.component("admin"),
		// Patient data: who may look, and the record of each look.
		Audit:        m.audit,
		Auth:         m.cfg.AdminAuth,
		SendPersonal: m.cfg.SendPolicy,
		Checks: []admin.Check{
			{Name: "shutdown", Fn: m.checkNotDraining},
			{Name: "outbox", Fn: m.checkOutboxWritable},
		},
	})
}

func (m *Main) checkNotDraining(context.Context) error {
	if m.draining.Load() {
		return errors.New("shutting down")
	}
	return nil
}

func (m *Main) checkOutboxWritable(ctx context.Context) error {
	if err := m.store.LastWriteError(); err != nil {
		return err
	}
	return m.store.Writable(ctx)
}

// listen takes the sockets systemd passed (activation.go), which win over
// the variables, and binds the others, so that a port in use is an error at
// start-up, named by its variable.
func (m *Main) listen() error {
	passed := fromSystemd()
	var err error
	if m.public, m.admin, err = passedListeners(); err != nil {
		return err
	}
	if passed {
		m.log.Info("listening on the sockets systemd passed", "public", m.public != nil, "admin", m.admin != nil)
	}
	if m.public == nil {
		if m.public, err = listenVar("GLP_LISTEN_ADDR", m.cfg.ListenAddr); err != nil {
			return err
		}
	}
	if m.admin == nil {
		m.admin, err = listenVar("GLP_ADMIN_ADDR", m.cfg.AdminAddr)
	}
	return err
}

// start runs every part in one group until Close, or until one fails.
func (m *Main) start(ctx context.Context, public, adm http.Handler) {
	ctx, m.stop = context.WithCancel(ctx)
	m.parts, m.running = errgroup.WithContext(ctx)
	g, ctx := m.parts, m.running
	servePublic(ctx, g, m.public, public, m.log)
	serveUntilDone(ctx, g, m.admin, adm, m.log)
	g.Go(func() error {
		m.store.Maintain(ctx, m.cfg.Retention, sidecar.MaintainEvery(m.cfg.Retention))
		return nil
	})
	g.Go(func() error { retainAudit(ctx, m.audit, m.cfg.AuditRetention, m.component("audit")); return nil })
	g.Go(func() error { return m.relay.Run(ctx) })
	g.Go(func() error { m.clicks.Run(ctx); return nil })
	g.Go(func() error { return m.store.Listen(ctx, m.relay.Notify) }) // events queued by other sidecars and commands
}

// announce prints the addresses and logs the configuration's gist and its
// warnings.
func (m *Main) announce(started time.Time) {
	fmt.Fprintf(m.stdout, "glp-sidecar: conversions at http://%s/glp-s2s-conversion · admin at http://%s/admin/\n", m.PublicAddr(), m.AdminAddr())
	if m.cfg.AppURL != "" {
		fmt.Fprintf(m.stdout, "glp-sidecar: in front of %s at http://%s/\n", m.cfg.AppURL, m.PublicAddr())
	}
	m.log.Info("sidecar ready",
		"public", m.PublicAddr(),
		"admin", m.AdminAddr(),
		"db", storeName(m.storeOptions()),
		"upstream", m.cfg.APIURL,
		"app", m.cfg.AppURL,
		"provider_id", m.cfg.ProviderID,
		"test_mode", m.cfg.TestMode,
		"server_calls", m.cfg.IngestToken != "",
		"local_match", m.cfg.LocalMatch,
		"start_ms", time.Since(started).Milliseconds())
	for _, w := range m.cfg.Warnings() {
		m.log.Warn(w)
	}
}

// closeAll closes the listeners that were bound.
func closeAll(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}
