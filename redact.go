package sidecar

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// redacted replaces a secret wherever it is found in what the sidecar keeps
// or shows.
const redacted = "[redacted]"

// redactDepth is how many layers of escaping Redact looks through: a JSON
// string holding a percent-encoded URL is two, one encoded twice three.
const redactDepth = 3

// Redact returns s with secret replaced by "[redacted]" wherever it occurs,
// in whatever escaping an upstream may echo it in: as sent (so also "Bearer
// <secret>"), JSON escapes (\uXXXX in either case, surrogate pairs, \/),
// percent-encoding (either case of hex digits, + for a space) and those
// nested in each other, whether or not s is one valid JSON value (trailing
// text, an HTML page, an answer cut at any size). It never decodes what it
// returns: only the spans that spell the secret are replaced.
func Redact(s, secret string) string {
	if secret == "" || s == "" {
		return s
	}
	if !strings.ContainsAny(s, escapeStarts) { // most answers: nothing to decode
		return strings.ReplaceAll(s, secret, redacted)
	}
	var spans [][2]int // in s, the spans that spell the secret
	views := []escapedView{plainView(s)}
	for depth := 0; len(views) > 0; depth++ {
		var next []escapedView
		for _, v := range views {
			spans = v.find(secret, spans)
			if depth == redactDepth {
				continue
			}
			for _, un := range unescapers {
				if !bytes.ContainsAny(v.text, un.starts) {
					continue
				}
				if d, ok := v.decode(un.at); ok {
					next = append(next, d)
				}
			}
		}
		views = next
	}
	if len(spans) == 0 {
		return s
	}
	return replaceSpans(s, spans)
}

// escapedView is s with some layers of escapes decoded: each byte of text
// knows the span of s it was decoded from.
type escapedView struct {
	text       []byte
	start, end []int
}

func plainView(s string) escapedView {
	v := escapedView{text: []byte(s), start: make([]int, len(s)), end: make([]int, len(s))}
	for i := range s {
		v.start[i], v.end[i] = i, i+1
	}
	return v
}

// find appends the spans of s where the view reads secret.
func (v escapedView) find(secret string, spans [][2]int) [][2]int {
	for from := 0; ; {
		i := bytes.Index(v.text[from:], []byte(secret))
		if i < 0 {
			return spans
		}
		i += from
		last := i + len(secret) - 1
		spans = append(spans, [2]int{v.start[i], v.end[last]})
		from = i + 1
	}
}

// unescaper decodes the escape at b[i], if one starts there: the bytes it
// stands for and its length; ok is false when none starts at i.
type unescaper func(b []byte, i int) (out []byte, n int, ok bool)

// unescapers are the escapings Redact looks through, each with the bytes
// its escapes start with.
var unescapers = []struct {
	starts string
	at     unescaper
}{{`\`, unescapeJSON}, {"%", unescapePercent(false)}, {"%+", unescapePercent(true)}, {"&", unescapeHTML}}

// escapeStarts are the bytes an escape of any of unescapers starts with.
const escapeStarts = `\%+&`

// decode is the view with one more layer decoded by un, and whether any
// escape was decoded.
func (v escapedView) decode(un unescaper) (escapedView, bool) {
	var d escapedView
	changed := false
	for i := 0; i < len(v.text); {
		out, n, ok := un(v.text, i)
		if !ok {
			out, n = v.text[i:i+1], 1
		} else {
			changed = true
		}
		for _, c := range out {
			d.text = append(d.text, c)
			d.start = append(d.start, v.start[i])
			d.end = append(d.end, v.end[i+n-1])
		}
		i += n
	}
	return d, changed
}

// unescapeJSON decodes a JSON string escape.
func unescapeJSON(b []byte, i int) ([]byte, int, bool) {
	if b[i] != '\\' || i+1 >= len(b) {
		return nil, 0, false
	}
	switch c := b[i+1]; c {
	case '"', '\\', '/':
		return []byte{c}, 2, true
	case 'b', 'f', 'n', 'r', 't':
		return []byte{map[byte]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[c]}, 2, true
	case 'u':
		r, ok := hexRune(b, i+2, 4)
		if !ok {
			return nil, 0, false
		}
		n := 6
		if utf16.IsSurrogate(r) {
			if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				if lo, ok := hexRune(b, i+8, 4); ok {
					r, n = utf16.DecodeRune(r, lo), 12
				}
			}
		}
		return utf8.AppendRune(nil, r), n, true
	}
	return nil, 0, false
}

// unescapePercent decodes %XX, and with plus a + as a space (a query's
// form).
func unescapePercent(plus bool) unescaper {
	return func(b []byte, i int) ([]byte, int, bool) {
		switch {
		case plus && b[i] == '+':
			return []byte{' '}, 1, true
		case b[i] == '%':
			if r, ok := hexRune(b, i+1, 2); ok {
				return []byte{byte(r)}, 3, true
			}
		}
		return nil, 0, false
	}
}

// unescapeHTML decodes a numeric character reference: &#116; or &#x74;.
func unescapeHTML(b []byte, i int) ([]byte, int, bool) {
	if b[i] != '&' || i+3 >= len(b) || b[i+1] != '#' {
		return nil, 0, false
	}
	j, base := i+2, rune(10)
	if b[j] == 'x' || b[j] == 'X' {
		j, base = j+1, 16
	}
	var r rune
	k := j
	for ; k < len(b) && k-j < 7; k++ {
		d, ok := hexRune(b, k, 1)
		if !ok || d >= base {
			break
		}
		r = r*base + d
	}
	if k == j || k >= len(b) || b[k] != ';' || !utf8.ValidRune(r) {
		return nil, 0, false
	}
	return utf8.AppendRune(nil, r), k + 1 - i, true
}

// hexRune reads n hex digits of b at i.
func hexRune(b []byte, i, n int) (rune, bool) {
	if i+n > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+n] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// replaceSpans replaces each span of s (overlapping ones merged) with
// "[redacted]".
func replaceSpans(s string, spans [][2]int) string {
	covered := make([]bool, len(s))
	for _, sp := range spans {
		for i := sp[0]; i < sp[1]; i++ {
			covered[i] = true
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !covered[i] {
			b.WriteByte(s[i])
			continue
		}
		b.WriteString(redacted)
		for i+1 < len(s) && covered[i+1] {
			i++
		}
	}
	return b.String()
}
