package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/demo"
	"github.com/glpwinner/glp-sidecar/mockglp"
)

// runDemo runs the mock GLP Winner, a demo app and the sidecar in front of
// it, in one process, on embedded defaults.
func runDemo(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	mcfg, err := config.LoadMock()
	if err != nil {
		return err
	}
	mockLn, err := listenVar("GLP_MOCK_LISTEN_ADDR", mcfg.ListenAddr)
	if err != nil {
		return err
	}
	appLn, err := listen("demo app", "127.0.0.1:0")
	if err != nil {
		mockLn.Close()
		return err
	}
	cfg, err := config.LoadDemo("http://"+mockLn.Addr().String(), "http://"+appLn.Addr().String())
	if err != nil {
		mockLn.Close()
		appLn.Close()
		return err
	}
	log := config.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	warnUnknown(log)
	mcfg.Tokens[cfg.APIToken.Value()] = cfg.ProviderID // the mock always knows the demo's credentials
	mock, err := mockglp.New(mockglp.Options{
		Providers:       mcfg.Tokens,
		DBPath:          mcfg.DBPath,
		SoftMatchWindow: mcfg.SoftMatchWindow,
		Logger:          log.With("component", "mock"),
	})
	if err != nil {
		return err
	}
	defer mock.Close()

	g, gctx := errgroup.WithContext(ctx)
	mockURL := "http://" + mockLn.Addr().String() + "/_mock/"
	var app demoApp
	serveUntilDone(gctx, g, mockLn, mock, log)
	serveUntilDone(gctx, g, appLn, &app, log)
	g.Go(func() error {
		sc := NewMain(cfg, log, io.Discard)
		if err := sc.Run(gctx); err != nil {
			sc.Close()
			return err
		}
		dashboard := "http://" + sc.AdminAddr() + "/admin/"
		app.set(demo.Handler(demo.Options{
			DashboardURL: dashboard,
			MockURL:      mockURL,
			SessionURL:   "http://" + mockLn.Addr().String() + "/api/track/v1/session",
			ProviderID:   cfg.ProviderID,
		}))
		fmt.Fprintf(stdout, `
glp-sidecar demo: a provider app behind the sidecar, relaying to a mock GLP Winner.

  1. Land from an affiliate link:  http://%s/?glp_click_id=%s
     then press "Start your consultation" and sign up.
  2. The sidecar's dashboard:      %s
  3. The mock GLP Winner:          %s

Outbox: %s. Stop with Ctrl-C.
`, sc.PublicAddr(), sampleClickID(), dashboard, mockURL, cfg.DBPath)
		select {
		case <-gctx.Done():
		case <-sc.Done():
		}
		return sc.Close()
	})
	return g.Wait()
}

// demoApp serves the demo app once the sidecar's addresses are known.
type demoApp struct{ h atomic.Value }

func (d *demoApp) set(h http.Handler) { d.h.Store(h) }

func (d *demoApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, _ := d.h.Load().(http.Handler)
	if h == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// sampleClickID is a click id as an affiliate link would carry one.
func sampleClickID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "demo-" + hex.EncodeToString(b)
}
