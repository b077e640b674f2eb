package main

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/mockglp"
)

func runMock(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadMock()
	if err != nil {
		return err
	}
	log := config.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	warnUnknown(log)
	mock, err := mockglp.New(mockglp.Options{
		Providers:       cfg.Tokens,
		DBPath:          cfg.DBPath,
		SoftMatchWindow: cfg.SoftMatchWindow,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	defer mock.Close()
	ln, err := listenVar("GLP_MOCK_LISTEN_ADDR", cfg.ListenAddr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mock GLP Winner: http://%s/_mock/  (conversions: POST http://%s/api/track/v1/conversion)\n", ln.Addr(), ln.Addr())
	log.Info("mock listening", "addr", ln.Addr().String())
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	g, gctx := errgroup.WithContext(ctx)
	serveUntilDone(gctx, g, ln, mock, log)
	return g.Wait()
}
