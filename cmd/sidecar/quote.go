package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// escapeControl is s with every control or otherwise unprintable character
// written as a Go escape (\x1b, \n, \u2028), the rest as it is: for text
// the CLI prints whole (an error a database server wrote, a CSV cell on a
// terminal), where a terminal escape would rewrite the operator's screen
// and a new line would fake a line of output.
func escapeControl(s string) string {
	if strings.IndexFunc(s, notPrintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !notPrintable(r):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
