package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// fleetRun is the fleet scenario's figures: the same backlog drained by
// one sidecar, then by two on the same PostgreSQL database.
type fleetRun struct {
	n     int
	rates []float64 // delivered per second, by fleet size 1, 2
}

// runFleet queues o.Fleet events while the upstream is down, through every
// sidecar of a fleet of size sidecars, lets the upstream back, and returns
// the delivery rate from the first event finished to the last.
func runFleet(ctx context.Context, o Options, mock string, sidecars int) (float64, error) {
	if err := resetMock(mock); err != nil {
		return 0, err
	}
	if err := setFault(mock, `{"status":503,"count":-1}`); err != nil {
		return 0, err
	}
	defer setFault(mock, `{}`)
	db, err := o.outbox(fmt.Sprint("fleet", sidecars))
	if err != nil {
		return 0, err
	}
	defer db.drop()
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := 0; i < sidecars; i++ {
		sc, err := serveReady(ctx, o.Exe, sidecarEnv(o, mock, db))
		if err != nil {
			return 0, err
		}
		procs = append(procs, sc)
	}
	var wg sync.WaitGroup
	for i, sc := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			load(ctx, sc.urls[0]+"/glp-s2s-conversion", fmt.Sprint("fleet", sidecars, "-", i), backlogConns/sidecars, time.Hour, int64(o.Fleet/sidecars))
		}()
	}
	wg.Wait()
	if err := setFault(mock, `{}`); err != nil {
		return 0, err
	}
	for p := (poller{admin: procs[0].urls[1]}); ctx.Err() == nil; {
		s, _, err := p.next()
		if err != nil {
			return 0, err
		}
		if s["queued"] == 0 {
			break
		}
	}
	for _, p := range procs {
		if err := p.stop(); err != nil {
			return 0, fmt.Errorf("sidecar: %v: %s", err, p.stderr.String())
		}
	}
	procs = nil
	sdb, err := db.open()
	if err != nil {
		return 0, err
	}
	defer sdb.Close()
	var first, last, n int64
	if err := sdb.QueryRow(`SELECT MIN(finished_at), MAX(finished_at), COUNT(*) FROM events WHERE finished_at IS NOT NULL`).Scan(&first, &last, &n); err != nil {
		return 0, fmt.Errorf("the drained outbox: %w", err)
	}
	if last <= first {
		return 0, errors.New("the fleet delivered too few events to time")
	}
	return float64(n) / (time.Duration(last-first) * time.Millisecond).Seconds(), nil
}

// runFleets runs the fleet scenario with one and two sidecars.
func runFleets(ctx context.Context, o Options, mock string) (*fleetRun, error) {
	f := &fleetRun{n: o.Fleet}
	for _, k := range []int{1, 2} {
		fmt.Fprintf(os.Stderr, "bench: %d events queued while the upstream is down, drained by %d sidecar(s) on PostgreSQL…\n", o.Fleet, k)
		rate, err := runFleet(ctx, o, mock, k)
		if err != nil {
			return nil, err
		}
		f.rates = append(f.rates, rate)
	}
	return f, nil
}
