// Package config reads glp-sidecar's environment (prefix GLP_) into a
// validated Config. Every error names the variable and what is wrong with it,
// in one line, and never repeats a secret's value.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/seal"
)

// cookieName is RFC 6265's token.
var cookieName = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")

// Prefix is the prefix of every variable.
const Prefix = "GLP"

// Error is a configuration error: the variable and what is wrong with it.
type Error struct {
	Var     string
	Problem string
}

func (e *Error) Error() string { return e.Var + ": " + e.Problem }

// Secret is a string that never prints: fmt, slog and JSON all see
// "[redacted]". Value returns it for the one place that must send it.
type Secret string

func (s Secret) String() string               { return "[redacted]" }
func (s Secret) GoString() string             { return "[redacted]" }
func (s Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (s Secret) Value() string                { return string(s) }

// Config is the sidecar's configuration (sidecar serve, demo).
type Config struct {
	ProviderID     int64         `envconfig:"PROVIDER_ID" desc:"numeric provider id sent as providerId (required)"`
	APIToken       Secret        `envconfig:"API_TOKEN" desc:"bearer token for GLP Winner (this or GLP_API_TOKEN_FILE is required); never logged"`
	APITokenFile   string        `envconfig:"API_TOKEN_FILE" desc:"file holding the bearer token, for Docker and Kubernetes secrets"`
	APIURL         string        `envconfig:"API_URL" default:"https://www.glpwinner.com" desc:"upstream base URL; /api/track/v1/conversion is appended"`
	TestMode       bool          `envconfig:"TEST_MODE" default:"false" desc:"relay every event with ?testMode=true"`
	ListenAddr     string        `envconfig:"LISTEN_ADDR" default:"127.0.0.1:8787" desc:"public listener: conversion endpoint, glp.js, click capture, proxy"`
	AdminAddr      string        `envconfig:"ADMIN_ADDR" default:"127.0.0.1:8790" desc:"admin listener: health, metrics, admin API, dashboard"`
	AdminToken     Secret        `envconfig:"ADMIN_TOKEN" desc:"bearer token for the admin API and dashboard, at least 16 characters; required when GLP_ADMIN_ADDR is not loopback"`
	AdminTokenFile string        `envconfig:"ADMIN_TOKEN_FILE" desc:"file holding the admin token, for Docker and Kubernetes secrets"`
	AdminHosts     []string      `envconfig:"ADMIN_HOSTS" desc:"comma-separated host names the admin API and dashboard answer under, besides IP addresses and localhost"`
	AppURL         string        `envconfig:"APP_URL" desc:"when set, every request that is not the sidecar's own is proxied to this app"`
	DBPath         string        `envconfig:"DB_PATH" default:"glp-sidecar.db" desc:"the SQLite file (outbox and click log)"`
	DBURL          Secret        `envconfig:"DB_URL" desc:"postgres://…: keep the outbox and click log in PostgreSQL, shared by every sidecar that names it, instead of GLP_DB_PATH; never logged"`
	DBURLFile      string        `envconfig:"DB_URL_FILE" desc:"file holding GLP_DB_URL, so that the password stays out of the environment (Docker and Kubernetes secrets)"`
	AllowedOrigins []string      `envconfig:"ALLOWED_ORIGINS" desc:"comma-separated origins allowed to call the conversion endpoint cross-origin"`
	TrustedProxies []string      `envconfig:"TRUSTED_PROXIES" desc:"comma-separated CIDRs whose X-Forwarded-For/-Proto are believed"`
	CookieName     string        `envconfig:"COOKIE_NAME" default:"_glp_cid" desc:"click-id cookie"`
	CookieMaxAge   time.Duration `envconfig:"COOKIE_MAX_AGE" default:"720h" desc:"the click-id cookie's lifetime"`
	CookieDomain   string        `envconfig:"COOKIE_DOMAIN" desc:"the cookie's Domain attribute (host-only when empty)"`
	ClickParam     string        `envconfig:"CLICK_PARAM" default:"glp_click_id" desc:"the landing URL's query parameter"`
	LocalMatch     bool          `envconfig:"LOCAL_MATCH" default:"false" desc:"attach a click id from the click log (same IP and user agent, top-level landings of the last hours) to conversions that arrive without one"`
	IngestToken    Secret        `envconfig:"INGEST_TOKEN" desc:"bearer token that makes a call to the conversion endpoint a server call (body ip, Idempotency-Key, ?wait=); never logged"`
	IngestFile     string        `envconfig:"INGEST_TOKEN_FILE" desc:"file holding the ingest token, for Docker and Kubernetes secrets"`
	RelayWorkers   int           `envconfig:"RELAY_WORKERS" default:"8" desc:"concurrent deliveries"`
	RetryInitial   time.Duration `envconfig:"RETRY_INITIAL" default:"1s" desc:"first retry interval"`
	RetryMaxIntvl  time.Duration `envconfig:"RETRY_MAX_INTERVAL" default:"10m" desc:"longest retry interval"`
	RetryMaxAge    time.Duration `envconfig:"RETRY_MAX_AGE" default:"72h" desc:"an event still undelivered after this becomes dead"`
	RequestTimeout time.Duration `envconfig:"REQUEST_TIMEOUT" default:"10s" desc:"one upstream call"`
	Retention      time.Duration `envconfig:"RETENTION" default:"720h" desc:"email, IP, session token and upstream answers of finished events are erased, and clicks deleted, after this"`
	RateLimit      float64       `envconfig:"RATE_LIMIT" default:"10" desc:"browser calls per second per public client address, an IPv6 client per /64 (0: no limit)"`
	RateBurst      int           `envconfig:"RATE_BURST" default:"20" desc:"burst of the per-client rate limit"`
	Pprof          bool          `envconfig:"PPROF" default:"false" desc:"serve Go's profiler at /debug/pprof/ on the admin listener (behind GLP_ADMIN_TOKEN)"`
	ShutdownDelay  time.Duration `envconfig:"SHUTDOWN_DELAY" default:"0s" desc:"on SIGTERM, keep serving this long with /readyz failing, while a load balancer stops sending traffic"`
	BrowserCalls   string        `envconfig:"BROWSER_CALLS" default:"corroborated" desc:"which browser calls are queued: corroborated (only with the visitor's own click id: the cookie the sidecar signed, or a landing from the same address), open (every valid one) or off (none: 403)"`
	LogLevel       string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat      string        `envconfig:"LOG_FORMAT" default:"json" desc:"json or text"`

	// Patient data: config/personal.go checks them.
	SendPersonalData string        `envconfig:"SEND_PERSONAL_DATA" default:"when-needed" desc:"when-needed: email and ip go upstream only with an event that has neither click id nor session token; always: with every event"`
	DataKeyFile      string        `envconfig:"DATA_KEY_FILE" desc:"file holding a 32-byte key (64 hex digits or base64) that encrypts personal data at rest"`
	AdminAuth        string        `envconfig:"ADMIN_AUTH" default:"token" desc:"token; or proxy: the admin user is the one an authenticating proxy in GLP_TRUSTED_PROXIES names in X-Forwarded-Email, X-Forwarded-User or X-Auth-Request-Email"`
	AuditRetention   time.Duration `envconfig:"AUDIT_RETENTION" default:"52560h" desc:"how long the admin audit log is kept"`

	// Parsed from the fields above by Load.
	Trusted    []netip.Prefix     `ignored:"true"`
	SendPolicy sidecar.SendPolicy `ignored:"true"`
	DataKey    *seal.Key          `ignored:"true"` // nil: personal data is stored in the clear

	// MaxClicks bounds the click log (0: capture.DefaultMaxClicks); not a
	// variable: for tests that fill the log without 100,000 landings.
	MaxClicks int `ignored:"true"`
}

// MockConfig is the mock upstream's configuration (sidecar mock, demo).
type MockConfig struct {
	ListenAddr      string        `envconfig:"MOCK_LISTEN_ADDR" default:"127.0.0.1:8788" desc:"the mock upstream's listener"`
	Providers       string        `envconfig:"MOCK_PROVIDERS" default:"123=test-token" desc:"comma-separated providerId=token pairs the mock accepts"`
	DBPath          string        `envconfig:"MOCK_DB_PATH" desc:"the mock's SQLite file (in memory when empty)"`
	SoftMatchWindow time.Duration `envconfig:"MOCK_SOFT_MATCH_WINDOW" default:"720h" desc:"how far back soft-matching looks"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat       string        `envconfig:"LOG_FORMAT" default:"json" desc:"json or text"`

	// Parsed from Providers by LoadMock: token → provider id.
	Tokens map[string]int64 `ignored:"true"`
}

// Load reads and validates the sidecar's configuration.
func Load() (Config, error) {
	var c Config
	if err := process(&c); err != nil {
		return c, err
	}
	return c, c.validate()
}

// Demo defaults: the mock's first provider, so that the demo needs no
// configuration at all.
const (
	DemoProviderID = 123
	DemoToken      = "test-token"
)

// LoadDemo reads the sidecar's configuration for sidecar demo: the provider
// id and token default to the mock's, the outbox goes to a temporary
// directory unless GLP_DB_PATH is set, and logs are text unless
// GLP_LOG_FORMAT is set. The API and app URLs are the demo's own: the
// demo never talks to the real GLP Winner.
func LoadDemo(apiURL, appURL string) (Config, error) {
	var c Config
	if err := process(&c); err != nil {
		return c, err
	}
	if c.ProviderID == 0 {
		c.ProviderID = DemoProviderID
	}
	if c.APIToken == "" && c.APITokenFile == "" {
		c.APIToken = DemoToken
	}
	if _, set := os.LookupEnv("GLP_DB_PATH"); !set {
		c.DBPath = filepath.Join(os.TempDir(), "glp-sidecar-demo", "outbox.db")
	}
	if _, set := os.LookupEnv("GLP_LOG_FORMAT"); !set {
		c.LogFormat = "text"
	}
	c.APIURL, c.AppURL = apiURL, appURL
	return c, c.validate()
}

// OutboxConfig is what the outbox commands need: the file.
type OutboxConfig struct {
	DBPath      string `envconfig:"DB_PATH" default:"glp-sidecar.db" desc:"the SQLite file (outbox and click log)"`
	DBURL       Secret `envconfig:"DB_URL" desc:"postgres://…: the outbox in PostgreSQL instead of GLP_DB_PATH"`
	DBURLFile   string `envconfig:"DB_URL_FILE" desc:"file holding GLP_DB_URL"`
	DataKeyFile string `envconfig:"DATA_KEY_FILE" desc:"the key that encrypts personal data at rest"`

	DataKey *seal.Key `ignored:"true"` // read from DataKeyFile; nil: none
}

// LoadOutbox reads the outbox commands' configuration.
func LoadOutbox() (OutboxConfig, error) {
	var c OutboxConfig
	if err := process(&c); err != nil {
		return c, err
	}
	if c.DataKeyFile != "" {
		k, err := ReadDataKey(c.DataKeyFile)
		if err != nil {
			return c, err
		}
		c.DataKey = &k
	}
	return c, readDBURL(&c.DBURL, c.DBURLFile) // dburl.go
}

// CheckDBURL checks a PostgreSQL URL (empty is none: the SQLite file) and
// names what is wrong without repeating it, for it holds a password.
func CheckDBURL(name string, raw Secret) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw.Value())
	if err != nil {
		return &Error{name, "is not a URL such as postgres://user:password@host:5432/dbname (its value is not shown: it may hold a password)"}
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return &Error{name, "must start with postgres:// or postgresql:// (its value is not shown: it may hold a password)"}
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return &Error{name, "names no host: postgres://user:password@host:5432/dbname"}
	}
	return nil
}

// AdminAddr reads GLP_ADMIN_ADDR alone, for sidecar healthcheck.
func AdminAddr() (string, error) {
	var c struct {
		AdminAddr string `envconfig:"ADMIN_ADDR" default:"127.0.0.1:8790"`
	}
	err := process(&c)
	return c.AdminAddr, err
}

// LoadMock reads and validates the mock's configuration.
func LoadMock() (MockConfig, error) {
	var c MockConfig
	if err := process(&c); err != nil {
		return c, err
	}
	if c.ListenAddr == "" {
		return c, &Error{"GLP_MOCK_LISTEN_ADDR", "must not be empty"}
	}
	if c.SoftMatchWindow <= 0 {
		return c, &Error{"GLP_MOCK_SOFT_MATCH_WINDOW", "must be a positive duration such as 720h"}
	}
	tokens, err := ParseProviders(c.Providers)
	if err != nil {
		return c, &Error{"GLP_MOCK_PROVIDERS", err.Error()}
	}
	c.Tokens = tokens
	return c, validateLog(c.LogLevel, c.LogFormat)
}

// ParseProviders reads "123=token,456=other" into token → provider id.
func ParseProviders(s string) (map[string]int64, error) {
	out := map[string]int64{}
	for i, pair := range strings.Split(s, ",") {
		id, token, ok := strings.Cut(strings.TrimSpace(pair), "=")
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil || n <= 0 || token == "" {
			return nil, fmt.Errorf("entry %d is not providerId=token with a positive numeric id", i+1)
		}
		out[token] = n
	}
	return out, nil
}

// Usage writes the table of every variable, its default and meaning; a
// variable that several specs share (GLP_LOG_LEVEL) is listed once.
func Usage(w io.Writer, specs ...any) error {
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	seen := map[string]bool{}
	for _, spec := range specs {
		var b strings.Builder
		if err := envconfig.Usagef(Prefix, spec, &b, usageFormat); err != nil {
			return err
		}
		for _, line := range strings.SplitAfter(b.String(), "\n") {
			key, _, _ := strings.Cut(line, "\t")
			if line == "" || seen[key] {
				continue
			}
			seen[key] = true
			io.WriteString(tw, line)
		}
	}
	return tw.Flush()
}

const usageFormat = `{{range .}}{{usage_key .}}	{{usage_default .}}	{{usage_description .}}
{{end}}`

func process(spec any) error {
	err := envconfig.Process(Prefix, spec)
	var perr *envconfig.ParseError
	if errors.As(err, &perr) {
		return &Error{perr.KeyName, fmt.Sprintf("cannot read %q as %s", perr.Value, describe(perr.TypeName))}
	}
	return err
}

func describe(goType string) string {
	switch goType {
	case "time.Duration":
		return "a duration (such as 10s, 5m or 72h)"
	case "bool":
		return "true or false"
	case "int", "int64":
		return "a whole number"
	case "float64":
		return "a number"
	}
	return goType
}

// validate checks the configuration step by step, in the order a reader of
// the variables' table meets them, and returns the first problem.
func (c *Config) validate() error {
	for _, check := range []func() error{
		c.checkProvider,
		c.checkAPIToken,
		c.readIngestToken,
		c.checkURLs,
		c.checkNotEmpty,
		func() error { return readDBURL(&c.DBURL, c.DBURLFile) }, // dburl.go
		c.checkCookieName,
		c.checkAdmin,
		c.checkOrigins,
		c.parseTrusted,
		c.checkDurations,
		c.checkRelay,
		c.checkPersonalData,
		func() error { return validateLog(c.LogLevel, c.LogFormat) },
		c.checkBrowserCalls,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) checkProvider() error {
	if c.ProviderID > 0 {
		return nil
	}
	if v, set := os.LookupEnv("GLP_PROVIDER_ID"); set && strings.TrimSpace(v) != "" {
		return &Error{"GLP_PROVIDER_ID", fmt.Sprintf("must be a positive integer (the numeric provider id GLP Winner gave you), not %s", strings.TrimSpace(v))}
	}
	return &Error{"GLP_PROVIDER_ID", "is required: the numeric provider id GLP Winner gave you"}
}

func (c *Config) checkAPIToken() error {
	if err := readSecret("GLP_API_TOKEN", &c.APIToken, c.APITokenFile, 0); err != nil {
		return err
	}
	if c.APIToken == "" {
		return &Error{"GLP_API_TOKEN", "is required (or GLP_API_TOKEN_FILE): the API token GLP Winner gave you"}
	}
	if n := len([]rune(c.APIToken.Value())); n < MinAPITokenLen {
		name := "GLP_API_TOKEN"
		if c.APITokenFile != "" {
			name += "_FILE"
		}
		// Redaction replaces the token wherever it appears: a token of a
		// few characters would garble every log line and give itself away.
		return &Error{name, fmt.Sprintf("has %d characters, fewer than %d: not the API token GLP Winner gave you; check how it was copied", n, MinAPITokenLen)}
	}
	return nil
}

// MinAPITokenLen is the shortest GLP_API_TOKEN accepted.
const MinAPITokenLen = 8

func (c *Config) checkURLs() error {
	if err := checkURL("GLP_API_URL", c.APIURL); err != nil {
		return err
	}
	if c.AppURL != "" {
		return checkURL("GLP_APP_URL", c.AppURL)
	}
	return nil
}

func (c *Config) checkNotEmpty() error {
	for _, v := range []struct{ name, value string }{
		{"GLP_LISTEN_ADDR", c.ListenAddr},
		{"GLP_ADMIN_ADDR", c.AdminAddr},
		{"GLP_DB_PATH", c.DBPath},
		{"GLP_COOKIE_NAME", c.CookieName},
		{"GLP_CLICK_PARAM", c.ClickParam},
	} {
		if strings.TrimSpace(v.value) == "" {
			return &Error{v.name, "must not be empty"}
		}
	}
	return nil
}

func (c *Config) checkCookieName() error {
	if !cookieName.MatchString(c.CookieName) {
		return &Error{"GLP_COOKIE_NAME", fmt.Sprintf("%q is not a cookie name (letters, digits and !#$%%&'*+-.^_`|~)", c.CookieName)}
	}
	return nil
}

func (c *Config) checkAdmin() error {
	if err := readSecret("GLP_ADMIN_TOKEN", &c.AdminToken, c.AdminTokenFile, MinTokenLen); err != nil {
		return err
	}
	for _, h := range c.AdminHosts {
		if h = strings.TrimSpace(h); h == "" || strings.ContainsAny(h, "/:@ ") {
			return &Error{"GLP_ADMIN_HOSTS", fmt.Sprintf("%q is not a host name such as sidecar.internal (no scheme, port or path)", h)}
		}
	}
	if c.AdminToken == "" && !LoopbackAddr(c.AdminAddr) && c.AdminAuth != AdminAuthProxy {
		return &Error{"GLP_ADMIN_TOKEN", "is required when GLP_ADMIN_ADDR (" + c.AdminAddr + ") is not a loopback address"}
	}
	return nil
}

func (c *Config) checkOrigins() error {
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return &Error{"GLP_ALLOWED_ORIGINS", fmt.Sprintf("%q is not an origin such as https://www.example.com", o)}
		}
	}
	return nil
}

func (c *Config) parseTrusted() error {
	c.Trusted = nil
	for _, p := range c.TrustedProxies {
		prefix, err := parsePrefix(strings.TrimSpace(p))
		if err != nil {
			return &Error{"GLP_TRUSTED_PROXIES", fmt.Sprintf("%q is not a CIDR such as 10.0.0.0/8 or an address", p)}
		}
		c.Trusted = append(c.Trusted, prefix)
	}
	return nil
}

func (c *Config) checkDurations() error {
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"GLP_COOKIE_MAX_AGE", c.CookieMaxAge},
		{"GLP_RETRY_INITIAL", c.RetryInitial},
		{"GLP_RETRY_MAX_INTERVAL", c.RetryMaxIntvl},
		{"GLP_RETRY_MAX_AGE", c.RetryMaxAge},
		{"GLP_REQUEST_TIMEOUT", c.RequestTimeout},
		{"GLP_RETENTION", c.Retention},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return &Error{p.name, "must be a positive duration"}
		}
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > 5*time.Minute {
		return &Error{"GLP_SHUTDOWN_DELAY", "must be between 0s and 5m"}
	}
	if c.RetryMaxIntvl < c.RetryInitial {
		return &Error{"GLP_RETRY_MAX_INTERVAL", "must not be shorter than GLP_RETRY_INITIAL"}
	}
	return nil
}

func (c *Config) checkRelay() error {
	if c.RelayWorkers < 1 || c.RelayWorkers > 256 {
		return &Error{"GLP_RELAY_WORKERS", "must be between 1 and 256"}
	}
	if c.RateLimit < 0 || (c.RateLimit > 0 && c.RateBurst < 1) {
		return &Error{"GLP_RATE_LIMIT", "must be 0 (off) or positive, with GLP_RATE_BURST at least 1"}
	}
	return nil
}

// MinTokenLen is the shortest admin or ingest token accepted: one that a
// page or a script could guess is no guard.
const MinTokenLen = 16

// readSecret resolves a secret given as the variable name or as name_FILE
// (Docker and Kubernetes secrets): at most one of them, a file that can be
// read and is not empty, no white space inside, and at least min characters
// (0: any length). Its errors name the variable the value came from and
// never repeat the value.
func readSecret(name string, value *Secret, file string, min int) error {
	fileVar := name + "_FILE"
	if *value != "" && file != "" {
		return &Error{fileVar, "set only one of " + name + " and " + fileVar}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return &Error{fileVar, "cannot read the token file: " + pathProblem(err)}
		}
		name, *value = fileVar, Secret(strings.TrimSpace(string(b)))
		if *value == "" {
			return &Error{name, "the token file " + file + " is empty"}
		}
	}
	if *value == "" {
		return nil
	}
	if strings.ContainsAny(value.Value(), " \t\r\n") {
		return &Error{name, "contains white space; check how it was copied"}
	}
	if n := len([]rune(value.Value())); n < min {
		return &Error{name, fmt.Sprintf("has %d characters, fewer than %d: make one with `openssl rand -hex 16`", n, min)}
	}
	return nil
}

// readIngestToken reads GLP_INGEST_TOKEN or its file and checks it: it
// stands between anyone on the internet and the server calls' powers.
func (c *Config) readIngestToken() error {
	if err := readSecret("GLP_INGEST_TOKEN", &c.IngestToken, c.IngestFile, MinTokenLen); err != nil {
		return err
	}
	if c.IngestToken != "" && c.IngestToken == c.APIToken {
		return &Error{"GLP_INGEST_TOKEN", "must not be the GLP Winner API token: it is a token of your own, shared with your backend only"}
	}
	return nil
}

// Warnings are what is allowed but probably a mistake, one sentence each,
// for the log at start-up.
func (c Config) Warnings() []string {
	var w []string
	if u, err := url.Parse(c.APIURL); err == nil && u.Scheme == "http" && !LoopbackAddr(u.Host) {
		w = append(w, "GLP_API_URL ("+c.APIURL+") is cleartext http:// to a host that is not loopback: the API token and patients' data travel unencrypted (also through any HTTP_PROXY); use https://")
	}
	w = append(w, secretFileWarnings(map[string]string{
		"GLP_API_TOKEN_FILE": c.APITokenFile, "GLP_INGEST_TOKEN_FILE": c.IngestFile, "GLP_ADMIN_TOKEN_FILE": c.AdminTokenFile,
		"GLP_DB_URL_FILE": c.DBURLFile, "GLP_DATA_KEY_FILE": c.DataKeyFile,
	})...)
	return w
}

// Warnings are the mock's start-up warnings.
func (c MockConfig) Warnings() []string {
	if !LoopbackAddr(c.ListenAddr) {
		return []string{"GLP_MOCK_LISTEN_ADDR (" + c.ListenAddr + ") is not a loopback address: the mock accepts conversions and shows its clicks and conversions (emails, IPs) to anyone who reaches it"}
	}
	return nil
}

func validateLog(level, format string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return &Error{"GLP_LOG_LEVEL", fmt.Sprintf("%q is not one of debug, info, warn, error", level)}
	}
	if format != "json" && format != "text" {
		return &Error{"GLP_LOG_FORMAT", fmt.Sprintf("%q is not json or text", format)}
	}
	return nil
}

// NewLogger returns the slog logger that level and format (already
// validated) describe, writing to w.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &Error{name, fmt.Sprintf("%q is not an http or https URL", raw)}
	}
	if u.User != nil {
		return &Error{name, "must not carry credentials in the URL"}
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// LoopbackAddr reports whether a listen address binds only loopback.
func LoopbackAddr(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

func pathProblem(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}
