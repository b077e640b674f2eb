// Package bench measures the sidecar against the machine's own ceiling: it
// drives conversions over keep-alive connections at a real `sidecar serve`
// (a child process, so that its memory and CPU are its own), and the same
// load at a plain handler that only decodes the JSON, and prints the figures
// side by side with their ratios.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
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
func load(ctx context.Context, url, run string, conns int, dur time.Duration, limit int64) result {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
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
			lat := make([]time.Duration, 0, 4096)
			errs := map[int]int{}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1)
				if limit > 0 && i > limit {
					break
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body(run, i)))
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs[0]++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != http.StatusAccepted {
					errs[resp.StatusCode]++
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
