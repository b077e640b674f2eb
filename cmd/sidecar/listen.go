package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// Server timeouts and limits, for every listener. The public listener has
// no ReadTimeout or WriteTimeout: it streams the app's uploads and answers
// (and WebSockets) through the proxy for as long as they last, and its own
// conversion endpoint sets a read deadline of its own (bodyReadTimeout).
// The other listeners (admin, mock) serve small requests and answers, and
// get both.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 15 * time.Second
	bodyReadTimeout   = 10 * time.Second // a conversion's whole body (16 KiB at most)
	smallReadTimeout  = 30 * time.Second // a whole request on the admin and mock listeners
	smallWriteTimeout = 2 * time.Minute  // a whole answer there (a pprof profile takes 30s)
)

// listen binds addr now, so that a port in use is an error at start-up.
func listen(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener on %s: %w", what, addr, err)
	}
	return ln, nil
}

// serveUntilDone serves h on ln in g until ctx is done, then shuts the server
// down, letting requests in flight finish. Requests and answers are small
// (the admin and mock listeners): each has a whole-request deadline.
func serveUntilDone(ctx context.Context, g *errgroup.Group, ln net.Listener, h http.Handler, log *slog.Logger) {
	serveOn(ctx, g, ln, h, log, smallReadTimeout, smallWriteTimeout)
}

// servePublic is serveUntilDone for the public listener, which streams
// through the proxy: no whole-request deadlines.
func servePublic(ctx context.Context, g *errgroup.Group, ln net.Listener, h http.Handler, log *slog.Logger) {
	serveOn(ctx, g, ln, h, log, 0, 0)
}

func serveOn(ctx context.Context, g *errgroup.Group, ln net.Listener, h http.Handler, log *slog.Logger, readTimeout, writeTimeout time.Duration) {
	srv := &http.Server{
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
