package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/mockglp"
)

// stackConfig and mockConfig are what startStack's environment gives serve
// and mock: read once, by TestMain, before any test runs, because
// config.Load reads the process's environment, which tests running in
// parallel may not change.
var (
	stackConfig config.Config
	mockConfig  config.MockConfig
)

// stackEnv is startStack's configuration but the outbox file and the
// upstream, which are each test's own.
var stackEnv = append(slices.Clone(baseEnv), "GLP_RETRY_INITIAL=50ms", "GLP_RETRY_MAX_INTERVAL=200ms")

// loadInProcessConfigs reads stackConfig and mockConfig under stackEnv
// alone (the developer's own GLP_ variables set aside), then puts the
// environment back.
func loadInProcessConfigs() error {
	saved := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.Prefix+"_") {
			saved[k] = v
			os.Unsetenv(k)
		}
	}
	defer func() {
		for _, kv := range stackEnv {
			k, _, _ := strings.Cut(kv, "=")
			os.Unsetenv(k)
		}
		for k, v := range saved {
			os.Setenv(k, v)
		}
	}()
	for _, kv := range stackEnv {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	var err error
	if stackConfig, err = config.Load(); err != nil {
		return err
	}
	mockConfig, err = config.LoadMock()
	return err
}

// startStackInProcess is startStack with the sidecar in this process too,
// through Main: for the tests that neither signal the sidecar nor read what
// it prints.
func startStackInProcess(t *testing.T) stack {
	t.Helper()
	s := stack{mock: serveMockInProcess(t), db: filepath.Join(t.TempDir(), "outbox.db")}
	cfg := stackConfig
	cfg.APIURL, cfg.DBPath = s.mock, s.db
	m := serveInProcess(t, cfg)
	s.public, s.admin = "http://"+m.PublicAddr(), "http://"+m.AdminAddr()
	return s
}

// serveInProcess runs the sidecar configured by cfg until the test ends.
// Its log is shown when the test fails.
func serveInProcess(t *testing.T, cfg config.Config) *Main {
	t.Helper()
	var log lockedBuffer
	m := NewMain(cfg, config.NewLogger(&log, cfg.LogLevel, cfg.LogFormat), &log)
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatalf("serve in process: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("serve in process stopped: %v", err)
		}
		if t.Failed() {
			t.Logf("the sidecar's log:\n%s", log.String())
		}
	})
	return m
}

// serveMockInProcess runs the mock upstream (mockConfig's providers, in
// memory) on a port the OS picks until the test ends, and returns its URL:
// the mock of every test that does not kill it or give it an environment.
func serveMockInProcess(t *testing.T) string {
	t.Helper()
	mock, err := mockglp.New(mockglp.Options{
		Providers:       mockConfig.Tokens,
		SoftMatchWindow: mockConfig.SoftMatchWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listen("mock", "127.0.0.1:0")
	if err != nil {
		mock.Close()
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	serveUntilDone(gctx, g, ln, mock, discardLogger())
	t.Cleanup(func() {
		stop()
		g.Wait()
		mock.Close()
	})
	return "http://" + ln.Addr().String()
}
