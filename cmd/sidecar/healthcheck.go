package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/glpwinner/glp-sidecar/config"
)

// runHealthcheck exits 0 when the admin listener's /healthz (or the URL
// given) answers 200: a container health check for an image without curl.
func runHealthcheck(ctx context.Context, args []string, stdout, _ io.Writer) error {
	url, err := healthURL(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: %s", url, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

func healthURL(args []string) (string, error) {
	if len(args) > 1 {
		return "", &usageError{"usage: sidecar healthcheck [URL]"}
	}
	if len(args) == 1 {
		return args[0], nil
	}
	addr, err := config.AdminAddr()
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", &config.Error{Var: "GLP_ADMIN_ADDR", Problem: err.Error()}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening on every address: ask the nearest
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
