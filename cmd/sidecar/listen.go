package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/glpwinner/glp-sidecar/config"
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

// listenVar binds addr, which the variable name set: an address that
// cannot be bound is bad configuration (exit 2), named by its variable.
func listenVar(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, &config.Error{Var: name, Problem: fmt.Sprintf("cannot listen on %q: %v", addr, err)}
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

// durationFlag is a duration flag whose error says what a duration looks
// like (the flag package's own says only "parse error").
type durationFlag struct{ d *time.Duration }

func newDurationFlag(fl *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	d := value
	fl.Var(durationFlag{&d}, name, usage)
	return &d
}

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration such as 30s, 10m or 720h")
	}
	*f.d = d
	return nil
}

// flagError is what a flag set's Parse error becomes: nil for -h/--help
// (the usage was printed; asking for help is no failure), else a usage
// error (exit 2).
func flagError(prefix string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return &usageError{prefix + err.Error()}
}
