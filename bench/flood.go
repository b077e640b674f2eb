package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// FloodOptions configure Flood.
type FloodOptions struct {
	Exe         string        // the sidecar binary
	Connections int           // accepts' connections
	FloodConns  int           // the flood's connections
	Duration    time.Duration // one slice of each scenario
	Rounds      int           // slices of each scenario, taken in turn
	Dir         string        // for the outbox
	Out         io.Writer
}

// floodScenario is one kind of landing flood beside the accepts.
type floodScenario struct {
	name  string
	addr  func(i int64) string // the flood's i-th landing's client address; nil: no flood
	param string               // the click-id parameter: another name floods with the same requests but no click
}

func manyAddresses(i int64) string { return fmt.Sprintf("2001:db8:%x:%x::1", i>>16&0xffff, i&0xffff) }

// floodScenarios: the flood without click ids is the same HTTP load with no
// click to log: what the landings cost the accepts in CPU alone.
var floodScenarios = []floodScenario{
	{"no flood", nil, ""},
	{"the same GETs without a click id", manyAddresses, "no_click_id"},
	{"landings from one address", func(int64) string { return "203.0.113.66" }, "glp_click_id"},
	{"landings from many addresses (a new /64 each)", manyAddresses, "glp_click_id"},
}

// Flood measures the accept rate of a real sidecar serve (behind a
// simulated load balancer: loopback is its trusted proxy) alone and while
// landings with click ids, of about 3 KB each, flood its public listener,
// in rounds that take the scenarios in turn. It prints the accept rates,
// their latencies, the landings served and what the click log kept.
func Flood(ctx context.Context, o FloodOptions) error {
	mock, err := spawn(o.Exe, []string{"GLP_MOCK_LISTEN_ADDR=127.0.0.1:0", "GLP_LOG_LEVEL=error"}, "mock")
	if err != nil {
		return err
	}
	defer mock.stop()
	env := append(sidecarEnv(Options{Workers: 8}, mock.urls[0], outboxDB{path: filepath.Join(o.Dir, "flood.db")}), "GLP_TRUSTED_PROXIES=127.0.0.0/8")
	sc, err := serveReady(ctx, o.Exe, env)
	if err != nil {
		return err
	}
	defer sc.stop()
	public, admin := sc.urls[0], sc.urls[1]
	accepts := make([]result, len(floodScenarios))
	landings := make([]int64, len(floodScenarios))
	var seq atomic.Int64
	for round := 0; round < o.Rounds; round++ {
		for i, s := range floodScenarios {
			res, n := floodSlice(ctx, o, public, fmt.Sprintf("f%d-%d", round, i), s, &seq)
			accepts[i] = merge([]result{accepts[i], res})
			landings[i] += n
		}
	}
	dropped, err := clickDrops(ctx, admin)
	if err != nil {
		return err
	}
	sc.stop()
	kept, err := clickRows(filepath.Join(o.Dir, "flood.db"))
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "accepts on %d connections beside a landing flood on %d connections; %d rounds of %s each\n\n",
		o.Connections, o.FloodConns, o.Rounds, o.Duration)
	tw := tabwriter.NewWriter(o.Out, 1, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\taccepts/s\tp50\tp99\taccept errors\tlandings/s\t")
	for i, s := range floodScenarios {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", s.name, num(accepts[i].perSecond()), ms(accepts[i].percentile(0.5)), ms(accepts[i].percentile(0.99)),
			accepts[i].errorText(), num(float64(landings[i])/accepts[i].elapsed.Seconds()))
	}
	tw.Flush()
	fmt.Fprintf(o.Out, "\nclick log: %d rows kept; landings not kept, by reason: %s\n", kept, dropped)
	return nil
}

// floodSlice runs the accepts for one slice, and the scenario's flood beside
// them; it returns the accepts and the number of landings served.
func floodSlice(ctx context.Context, o FloodOptions, public, run string, s floodScenario, seq *atomic.Int64) (result, int64) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var served atomic.Int64
	var wg sync.WaitGroup
	if s.addr != nil {
		u, _ := url.Parse(public)
		pad := strings.Repeat("x", 1000)
		for c := 0; c < o.FloodConns; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := newClient(u)
				defer cl.close()
				for ctx.Err() == nil {
					i := seq.Add(1)
					path := fmt.Sprintf("/landing/%s?%s=flood-%d&utm_source=%s", pad[:500], s.param, i, pad[:200])
					headers := fmt.Sprintf("Sec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\nX-Forwarded-For: %s\r\nUser-Agent: Flood/%s\r\nReferer: https://flood.example/%s\r\n",
						s.addr(i), pad[:500], pad)
					if _, err := cl.get(path, headers); err == nil {
						served.Add(1)
					}
				}
			}()
		}
	}
	res := load(ctx, public+"/glp-s2s-conversion", run, o.Connections, o.Duration, 0)
	cancel()
	wg.Wait()
	return res, served.Load()
}

// clickDrops reads the landings the click log did not keep, by reason,
// from the admin listener's metrics.
func clickDrops(ctx context.Context, admin string) (string, error) {
	time.Sleep(time.Second) // the click log's last batch
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var drops []string
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "glp_sidecar_clicks_dropped_total{reason="); ok {
			drops = append(drops, strings.Replace(strings.Trim(rest, `"`), `"} `, " ", 1))
		}
	}
	if len(drops) == 0 {
		return "none", nil
	}
	return strings.Join(drops, ", "), nil
}

// clickRows counts the click log's rows in a stopped sidecar's outbox.
func clickRows(path string) (int, error) {
	db, err := outboxDB{path: path}.open()
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(*) FROM clicks`).Scan(&n)
	return n, err
}
