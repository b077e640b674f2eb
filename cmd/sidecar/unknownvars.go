package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/glpwinner/glp-sidecar/config"
)

// warnUnknown logs one warning line for each GLP_ variable of the
// environment that glp-sidecar does not read, naming the nearest known
// name (a misspelled GLP_INGEST_TOKN would otherwise be dropped without a
// word). Never the value: it may be a token.
func warnUnknown(log *slog.Logger) {
	for _, u := range config.UnknownVariables(os.Environ()) {
		log.Warn(u.String(), "variable", u.Name, "nearest", u.Nearest)
	}
}

// warnUnknownTo is warnUnknown for the commands that print rather than log.
func warnUnknownTo(stderr io.Writer) {
	for _, u := range config.UnknownVariables(os.Environ()) {
		fmt.Fprintln(stderr, "sidecar: warning:", u)
	}
}

// hintUnknown adds to a configuration error the misspelled variable that
// was most likely meant for it.
func hintUnknown(err error) error {
	var cerr *config.Error
	if errors.As(err, &cerr) {
		config.Hint(cerr, config.UnknownVariables(os.Environ()))
	}
	return err
}
