package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/glpwinner/glp-sidecar/config"
	"github.com/glpwinner/glp-sidecar/relay"
)

// runCheck sends one test-mode conversion to GLP_API_URL with the
// configured provider id and token, and says in one line whether GLP Winner
// accepted the credentials (exit 0) or what to change (exit 1). It never
// prints the token.
func runCheck(_ context.Context, _ []string, stdout, stderr io.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	warnUnknownTo(stderr)
	c := relay.Check(relay.CheckOptions{
		BaseURL:        cfg.APIURL,
		ProviderID:     cfg.ProviderID,
		Token:          cfg.APIToken.Value(),
		RequestTimeout: cfg.RequestTimeout,
	})
	where := fmt.Sprintf("provider %d at %s", cfg.ProviderID, cfg.APIURL)
	if c.Accepted {
		_, err := fmt.Fprintf(stdout, "check: GLP Winner accepted the credentials of %s (%d, a test-mode conversion for click %s%s)\n",
			where, c.Status, c.ClickID, conversionOf(c))
		return err
	}
	return errors.New("check: " + checkAdvice(c, cfg.ProviderID, where))
}

func conversionOf(c relay.Checked) string {
	if c.Upstream.ConversionID == "" {
		return ""
	}
	return ", conversion " + c.Upstream.ConversionID
}

// checkAdvice says what went wrong and what to change.
func checkAdvice(c relay.Checked, provider int64, where string) string {
	said := ""
	if c.Error != "" {
		said = ": " + quoteControl(c.Error)
	}
	switch {
	case c.Status == 401:
		return fmt.Sprintf("GLP Winner refused the credentials of %s (401%s): no token reached it; set GLP_API_TOKEN (or GLP_API_TOKEN_FILE) to the API token GLP Winner gave you", where, said)
	case c.Status == 403 && strings.Contains(strings.ToLower(c.Error), "provider"):
		return fmt.Sprintf("GLP Winner refused the credentials of %s (403%s): the token is not provider %d's; set GLP_PROVIDER_ID to the provider id that goes with this token, or GLP_API_TOKEN to provider %d's token", where, said, provider, provider)
	case c.Refused:
		return fmt.Sprintf("GLP Winner refused the credentials of %s (%d%s): it does not know this token; set GLP_API_TOKEN (or GLP_API_TOKEN_FILE) to the API token GLP Winner gave you, without quotes or spaces", where, c.Status, said)
	case c.Status == 0:
		return fmt.Sprintf("no answer from %s: %s; check GLP_API_URL and that this machine reaches it (HTTPS_PROXY if it needs one)", where, quoteControl(c.Reason))
	}
	return fmt.Sprintf("the credentials of %s are not confirmed: %s", where, quoteControl(c.Reason))
}
