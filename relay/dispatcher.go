package relay

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// Queue is the outbox as the dispatcher and its workers use it.
type Queue = sidecar.Queue

// job is a claimed event for a worker.
type job struct {
	e     sidecar.Event
	probe bool
}

// report is a worker's word to the dispatcher on a job.
type report struct {
	verdict    verdict
	reason     string
	probe      bool
	released   bool          // given back unsent: the relay stopped fanning out, or is stopping
	fenced     bool          // not sent: too little of its lease was left (leaseLeft)
	leaseLeft  time.Duration // what was left of the lease when it was not sent
	retryAfter time.Duration // the upstream's Retry-After
}

// dispatcher is Run's loop and its state: it claims what the mode and the
// idle workers allow, hands it to the workers, takes their
// reports, and moves the relay between its modes.
//
// Its counts and times are Run's goroutine's alone; the workers share only
// the channels and stopping.
type dispatcher struct {
	r       *Relay
	queue   Queue
	jobs    chan job    // claimed events; its capacity is one a worker, so a send never waits
	reports chan report // one per job
	workers sync.WaitGroup

	inFlight   int         // jobs handed out and not yet reported
	probing    bool        // a probe is out: no other is claimed until it reports
	nextProbe  time.Time   // while not running: when the next probe may go
	lastExpire time.Time   // when overdue events were last dead-lettered
	stopping   atomic.Bool // Run's context ended: workers give back what they take
}

// Run delivers until ctx ends, then lets deliveries in flight finish (each
// is bounded by the request timeout), gives back what was claimed but not
// sent, and returns.
//
// A fixed pool of workers takes claimed events; the dispatcher claims only
// as many as there are idle workers, so every claimed event is sent at
// once. A lease held by a process that died therefore stands for a request
// that was sent (the claim that takes the event next counts it as one that
// may have landed), and a lease never runs out while its event waits for a
// worker, to be claimed and sent a second time.
func (r *Relay) Run(ctx context.Context) error {
	capacity := r.opts.Workers
	d := &dispatcher{
		r:       r,
		queue:   r.opts.Store,
		jobs:    make(chan job, capacity),
		reports: make(chan report, capacity),
	}
	for i := 0; i < r.opts.Workers; i++ {
		d.workers.Add(1)
		go d.work()
	}
	defer r.records.Wait() // last: every attempt is on disk before Run returns
	defer d.workers.Wait()
	defer close(d.jobs)
	d.loop(ctx)
	return nil
}

// loop dispatches until ctx ends, then until every job has reported.
func (d *dispatcher) loop(ctx context.Context) {
	stop := ctx.Done()
	for stop != nil || d.inFlight > 0 {
		var timer <-chan time.Time
		if stop != nil {
			wake := d.dispatch(ctx)
			timer = d.r.clock.After(max(wake.Sub(d.r.clock.Now()), minWait))
		}
		select {
		case <-stop:
			stop = nil
			d.stopping.Store(true)
			d.r.opts.Logger.Info("relay stopping", "in_flight", d.inFlight)
		case <-d.r.kick:
		case <-timer:
		case rep := <-d.reports:
			d.settleAll(ctx, rep)
		}
	}
}

// work is one worker: it delivers the jobs it takes, or gives them back
// unsent when the relay is stopping or no longer fans out.
func (d *dispatcher) work() {
	defer d.workers.Done()
	for j := range d.jobs {
		if d.stopping.Load() || (!j.probe && d.r.Status().Mode != sidecar.RelayRunning) {
			d.release(j.e)
			d.reports <- report{released: true, probe: j.probe}
			continue
		}
		rep := d.r.deliver(j.e, j.probe)
		if rep.fenced {
			// Stalled since the claim (a paused process, a starved
			// machine): the lease may run out while the request is out,
			// and another sidecar take the event and send it too.
			d.r.opts.Logger.Warn("too little of its lease left to send an event; giving it back", "event_id", j.e.ID,
				"lease_left", rep.leaseLeft.Round(time.Millisecond).String(), "needs", d.r.sendNeeds().String())
			d.release(j.e)
			rep = report{released: true, probe: j.probe}
		}
		d.reports <- rep
	}
}

// release gives a claimed event back unsent, naming the lease it was
// claimed under: if that lease is no longer the event's, nothing changes.
func (d *dispatcher) release(e sidecar.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), d.r.opts.RequestTimeout)
	defer cancel()
	if err := d.queue.Release(ctx, e.Lease()); err != nil {
		d.r.opts.Logger.Warn("releasing an event failed; its lease runs out instead", "event_id", e.ID, "err", err)
	}
}

// dispatch claims what the mode and the free room allow and returns when to
// look again.
func (d *dispatcher) dispatch(ctx context.Context) time.Time {
	now := d.r.clock.Now()
	mode := d.r.Status().Mode
	if mode != sidecar.RelayPaused && now.Sub(d.lastExpire) >= expireEvery {
		d.lastExpire = now
		d.expire(ctx)
	}
	free := cap(d.jobs) - d.inFlight
	if mode != sidecar.RelayRunning {
		return d.probe(ctx, now, free)
	}
	return d.claim(ctx, now, free)
}

// probe claims one event to try a failing upstream with, when none is out
// and the backoff allows.
func (d *dispatcher) probe(ctx context.Context, now time.Time, free int) time.Time {
	if d.probing || free <= 0 {
		return now.Add(idlePoll) // a report wakes the loop first; a probe must never wait for room
	}
	if now.Before(d.nextProbe) {
		return d.nextProbe
	}
	evs, err := d.queue.ClaimProbe(ctx, d.r.opts.lease)
	if err != nil {
		d.r.opts.Logger.Warn("claim probe failed", "err", err)
		return now.Add(storeRetry)
	}
	for _, e := range evs {
		d.start(e, true)
	}
	if len(evs) == 0 {
		d.nothingToProbe(ctx)
	}
	return now.Add(idlePoll)
}

// nothingToProbe settles the mode when no event is left to probe with: the
// last queued one finished (dead at the retry max age, or delivered by
// another sidecar). Backing off from an upstream that nothing waits for is
// over: the relay is running, and the next event is sent at once (and backs
// the relay off again if the upstream still fails). A pause stays, for the
// credentials are still refused, with no probe due until an event is queued.
func (d *dispatcher) nothingToProbe(ctx context.Context) {
	if _, queued, err := d.queue.NextDue(ctx); err != nil || queued {
		return // leased by another sidecar, or unknown: the probes go on
	}
	st := d.r.Status()
	switch st.Mode {
	case sidecar.RelayBackingOff:
		d.r.policy.recovered()
		d.r.setMode(sidecar.RelayRunning, "", time.Time{})
		d.r.opts.Logger.Info("relay running: no event is left to deliver", "was", st.Mode)
	case sidecar.RelayPaused:
		d.r.setMode(sidecar.RelayPaused, st.Reason, time.Time{})
	}
}

// claim takes as many due events as there are idle workers, and returns
// when the next event falls due (at once if the claim was full).
func (d *dispatcher) claim(ctx context.Context, now time.Time, free int) time.Time {
	if free <= 0 {
		return now.Add(idlePoll) // every worker is busy; a report wakes the loop first
	}
	evs, err := d.queue.Claim(ctx, free, d.r.opts.lease)
	if err != nil {
		d.r.opts.Logger.Warn("claim failed", "err", err)
		return now.Add(storeRetry)
	}
	for _, e := range evs {
		d.start(e, false)
	}
	if len(evs) == free {
		return now // more may be due: look again at once
	}
	next, ok, err := d.queue.NextDue(ctx)
	switch {
	case err != nil:
		d.r.opts.Logger.Warn("next due failed", "err", err)
		return now.Add(storeRetry)
	case ok && next.Before(now.Add(idlePoll)):
		return next
	}
	return now.Add(idlePoll)
}

// start hands a claimed event to the workers.
func (d *dispatcher) start(e sidecar.Event, probe bool) {
	d.inFlight++
	d.probing = d.probing || probe
	d.r.setInFlight(d.inFlight)
	d.jobs <- job{e, probe}
}

// settleAll takes rep and every report waiting behind it, before the next
// claim.
func (d *dispatcher) settleAll(ctx context.Context, rep report) {
	for more := true; more; {
		d.settle(ctx, rep)
		select {
		case rep = <-d.reports:
		default:
			more = false
		}
	}
	d.r.setInFlight(d.inFlight)
}

// settle takes one report: a job is done, and its answer may change the
// mode.
func (d *dispatcher) settle(ctx context.Context, rep report) {
	d.inFlight--
	if rep.probe {
		d.probing = false
	}
	if rep.released {
		return
	}
	switch rep.verdict {
	case pause:
		d.fail(rep, sidecar.RelayPaused)
	case retry:
		d.fail(rep, sidecar.RelayBackingOff)
	default:
		d.resume(ctx)
	}
}

// fail enters mode (backing off or paused) after a failed attempt, or, for
// a probe's failure, schedules the next probe.
func (d *dispatcher) fail(rep report, mode sidecar.RelayMode) {
	was := d.r.Status().Mode
	if was != sidecar.RelayRunning && !rep.probe && was == mode {
		return // a straggler of the fan-out: the probes keep their pace
	}
	now := d.r.clock.Now()
	d.nextProbe = d.r.policy.nextProbe(rep.retryAfter, now)
	d.r.setMode(mode, rep.reason, d.nextProbe)
	if was != mode {
		d.r.opts.Logger.Warn("relay "+strings.ReplaceAll(string(mode), "_", " "),
			"reason", rep.reason, "next_probe_in", d.nextProbe.Sub(now).Round(time.Millisecond).String())
	}
}

// resume goes back to running after an accepted attempt: every event
// waiting out its backoff is due at once, and after a pause every event's
// retry age starts again.
func (d *dispatcher) resume(ctx context.Context) {
	was := d.r.Status().Mode
	if was == sidecar.RelayRunning {
		return
	}
	d.r.policy.recovered()
	d.r.setMode(sidecar.RelayRunning, "", time.Time{})
	n, err := d.queue.ResetBackoff(context.WithoutCancel(ctx))
	if err != nil {
		d.r.opts.Logger.Warn("reset backoff failed", "err", err)
	}
	if was == sidecar.RelayPaused {
		if _, err := d.queue.RestartAge(context.WithoutCancel(ctx)); err != nil {
			d.r.opts.Logger.Warn("restart retry age failed", "err", err)
		}
	}
	d.r.opts.Logger.Info("relay resumed", "was", was, "events_due_now", n)
	d.r.Notify()
}

// expire dead-letters the events older than the retry age and tells their
// waiters.
func (d *dispatcher) expire(ctx context.Context) {
	maxAge := d.r.opts.RetryMaxAge
	ids, err := d.queue.ExpireDead(ctx, maxAge)
	if err != nil {
		d.r.opts.Logger.Warn("dead-lettering failed", "err", err)
		return
	}
	for _, id := range ids {
		d.r.opts.Logger.Warn("event dead", "event_id", id, "state", sidecar.StateDead, "reason", "undelivered after "+maxAge.String())
		d.r.waiters.finish(sidecar.Event{ID: id, State: sidecar.StateDead})
	}
	if len(ids) > 0 && d.r.Status().Mode != sidecar.RelayRunning {
		d.nothingToProbe(ctx)
	}
}
