package postgres

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// warnSettings logs, one warning line each naming the setting, what the
// database's settings and the URL allow but should not: never the
// password. raw is the URL cfg was parsed from.
func (s *Store) warnSettings(ctx context.Context, raw string, cfg pgconn.Config) {
	var sync string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&sync); err == nil && sync == "off" {
		s.log.Warn("synchronous_commit is off on the outbox database: a conversion answered 202 could be lost in a database crash; set it on (ALTER DATABASE … SET synchronous_commit = on, or in postgresql.conf)",
			"setting", "synchronous_commit", "value", sync)
	}
	if host, mode, unverified := unverifiedTLS(cfg, raw); unverified {
		s.log.Warn("sslmode "+mode+" to the outbox database at "+host+", which is not a loopback address: the database password and patients' data cross the network without the server's certificate being verified (a server in the path can read them, or ask for the password in clear); set sslmode=verify-full (or verify-ca) in GLP_DB_URL",
			"setting", "sslmode", "value", mode, "host", host)
	}
}

// unverifiedTLS reports whether cfg (parsed from raw) reaches a host that
// is not loopback (nor a Unix socket) without sslmode verify-full or
// verify-ca, and names that host and the sslmode. It connects to nothing.
func unverifiedTLS(cfg pgconn.Config, raw string) (host, mode string, unverified bool) {
	mode, rootCert := "prefer", ""
	if v := os.Getenv("PGSSLMODE"); v != "" {
		mode = v
	}
	rootCert = os.Getenv("PGSSLROOTCERT")
	if u, err := url.Parse(raw); err == nil {
		if v := u.Query().Get("sslmode"); v != "" {
			mode = v
		}
		if v := u.Query().Get("sslrootcert"); v != "" {
			rootCert = v
		}
	}
	switch {
	case mode == "verify-full", mode == "verify-ca":
		return "", mode, false
	case mode == "require" && rootCert != "": // libpq and pgx verify the chain then, as verify-ca
		return "", mode, false
	}
	hosts := []string{cfg.Host}
	for _, fb := range cfg.Fallbacks {
		hosts = append(hosts, fb.Host)
	}
	for _, h := range hosts {
		if !local(h) {
			return h, mode, true
		}
	}
	return "", mode, false
}

// local reports whether host is a Unix socket's directory, localhost or a
// loopback address; a name is not resolved.
func local(host string) bool {
	if strings.HasPrefix(host, "/") || strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
