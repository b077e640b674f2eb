package main

import (
	"context"
	"errors"
	"io"
)

// The subcommands that later work brings. Each says so rather than
// pretending.
var errNotBuilt = errors.New("this command is not built yet")

func runDemo(context.Context, []string, io.Writer, io.Writer) error        { return errNotBuilt }
func runHealthcheck(context.Context, []string, io.Writer, io.Writer) error { return errNotBuilt }
func runOutbox(context.Context, []string, io.Writer, io.Writer) error      { return errNotBuilt }
