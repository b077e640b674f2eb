package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &usageError{fmt.Sprintf("healthcheck: %q is not a URL or host:port: %v", url, err)}
	}
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

// healthURL is the URL to ask: the argument (a URL, or a bare host:port
// such as 127.0.0.1:8790, which means its /healthz), else GLP_ADMIN_ADDR's
// /healthz.
func healthURL(args []string) (string, error) {
	if len(args) > 1 {
		return "", &usageError{"usage: sidecar healthcheck [URL | HOST:PORT]"}
	}
	if len(args) == 1 {
		return argURL(args[0])
	}
	addr, err := config.AdminAddr()
	if err != nil {
		return "", err
	}
	u, err := addrURL(addr)
	if err != nil {
		return "", &config.Error{Var: "GLP_ADMIN_ADDR", Problem: err.Error()}
	}
	return u, nil
}

func argURL(arg string) (string, error) {
	if !strings.Contains(arg, "://") {
		u, err := addrURL(arg)
		if err != nil {
			return "", &usageError{fmt.Sprintf("healthcheck: %q is neither a URL nor a host:port such as 127.0.0.1:8790", arg)}
		}
		return u, nil
	}
	u, err := url.Parse(arg)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", &usageError{fmt.Sprintf("healthcheck: %q is neither a URL nor a host:port such as 127.0.0.1:8790", arg)}
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/healthz"
	}
	return u.String(), nil
}

// addrURL is the /healthz URL of a listen address.
func addrURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening on every address: ask the nearest
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
