// Package bench measures the sidecar against the machine's own ceiling: it
// drives conversions over keep-alive connections at a real `sidecar serve`
// (a child process, so that its memory and CPU are its own), and the same
// load at a plain handler that only decodes the JSON, and prints the figures
// side by side with their ratios.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// result is one load run.
type result struct {
	n       int
	errors  map[int]int // status → count; 0 for no answer
	lat     []time.Duration
	elapsed time.Duration
}

func (r result) perSecond() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

func (r result) max() time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[len(r.lat)-1]
}

func (r result) errorText() string {
	if len(r.errors) == 0 {
		return "none"
	}
	var b bytes.Buffer
	for s, n := range r.errors {
		name := fmt.Sprint(s)
		if s == 0 {
			name = "no answer"
		}
		fmt.Fprintf(&b, "%s×%d ", name, n)
	}
	return b.String()
}

// body is a conversion of about 200 bytes, unique per i.
func body(run string, i int64) []byte {
	return fmt.Appendf(nil, `{"glpClickId":"bench-%s-%d","email":"patient.%d@example.com","ip":"203.0.113.%d","conversion_id":"order-%s-%d","testMode":false,"plan":"semaglutide-monthly"}`,
		run, i, i, i%250+1, run, i)
}

// load posts conversions from conns goroutines, each over its own
// keep-alive connection, until dur has passed or limit requests were sent
// (0: no limit).
func load(ctx context.Context, target, run string, conns int, dur time.Duration, limit int64) result {
	u, err := url.Parse(target)
	if err != nil {
		return result{errors: map[int]int{0: 1}}
	}
	var next atomic.Int64
	var mu sync.Mutex
	res := result{errors: map[int]int{}}
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(u)
			defer cl.close()
			lat := make([]time.Duration, 0, 4096)
			errs := map[int]int{}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1)
				if limit > 0 && i > limit {
					break
				}
				t0 := time.Now()
				status, err := cl.post(body(run, i))
				if err != nil {
					errs[0]++
					continue
				}
				lat = append(lat, time.Since(t0))
				if status != http.StatusAccepted {
					errs[status]++
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			for k, v := range errs {
				res.errors[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.lat) - countNon202(res.errors)
	sort.Slice(res.lat, func(i, j int) bool { return res.lat[i] < res.lat[j] })
	return res
}

// client is one keep-alive HTTP/1.1 connection, its requests written and
// its answers read by hand, as wrk does. net/http's client spends ~30 µs of
// CPU a request, more than the ceiling it measures; on 2 shared cores that
// CPU is taken from the server under test, and the ceiling it lowers more
// than the sidecar, which waits for its disk, flattered the ratio (0.58
// against wrk's 0.49–0.52 at 64 connections, the same minute).
type client struct {
	addr   string
	prefix []byte // the request line and headers, up to Content-Length's value
	conn   net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	buf    []byte
}

func newClient(u *url.URL) *client {
	return &client{
		addr:   u.Host,
		prefix: fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: ", u.RequestURI(), u.Host),
	}
}

// post sends body and returns the answer's status. On an error the
// connection is closed, and the next request dials again.
func (c *client) post(body []byte) (int, error) {
	c.buf = append(strconv.AppendInt(append(c.buf[:0], c.prefix...), int64(len(body)), 10), "\r\n\r\n"...)
	c.buf = append(c.buf, body...)
	return c.do()
}

// get sends a GET of path with extra header lines (each ending in \r\n)
// and returns the answer's status.
func (c *client) get(path, headers string) (int, error) {
	c.buf = fmt.Appendf(c.buf[:0], "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, c.addr, headers)
	return c.do()
}

// do sends the request in buf, over the open connection or a new one.
func (c *client) do() (int, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		c.conn, c.r, c.w = conn, bufio.NewReader(conn), bufio.NewWriter(conn)
	}
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	status, keep, err := c.roundTrip()
	if err != nil || !keep {
		c.close()
	}
	return status, err
}

func (c *client) roundTrip() (status int, keep bool, err error) {
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, false, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, keep := -1, false, true
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimSpace(h)
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = c.discardChunks()
	case length >= 0:
		_, err = c.r.Discard(length)
	default:
		return status, false, nil // the body runs to the connection's end
	}
	return status, keep && err == nil, err
}

// discardChunks reads a chunked body to its end.
func (c *client) discardChunks() error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the empty line
				line, err := c.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimSpace(line)) == 0 {
					return nil
				}
			}
		}
		if _, err := c.r.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// merge puts the slices of one load's rounds together.
func merge(rs []result) result {
	m := result{errors: map[int]int{}}
	for _, r := range rs {
		m.n += r.n
		m.elapsed += r.elapsed
		m.lat = append(m.lat, r.lat...)
		for k, v := range r.errors {
			m.errors[k] += v
		}
	}
	slices.Sort(m.lat)
	return m
}

func countNon202(errs map[int]int) int {
	n := 0
	for s, c := range errs {
		if s != 0 {
			n += c
		}
	}
	return n
}
