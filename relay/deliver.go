package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// deliver makes one attempt, records it and reports to the dispatcher.
func (r *Relay) deliver(e sidecar.Event, probe bool) report {
	started := r.clock.Now()
	// The fence, as close to the request as it can be: no send with less
	// than a request's time and the margin left on the lease.
	if left := e.LeaseUntil.Sub(started); left < r.sendNeeds() {
		return report{fenced: true, leaseLeft: left, probe: probe}
	}
	a := r.post(e).redacted(r.opts.Token)
	took := r.clock.Now().Sub(started)
	v, reason := classify(a)
	reason = sidecar.Redact(reason, r.opts.Token) // whatever classify read out of the answer
	switch {
	case v == delivered || v == duplicate || v == rejected:
		latest(&r.accepted, started)
	case v == pause && r.refusedAlone(e):
		// Other events were accepted since this one last drew such an
		// answer: it is about this event, not the credentials or the URL.
		v, reason = rejected, reason+"; only this event draws it while others are accepted"
	case v == pause:
		latest(&r.refused, r.clock.Now())
	}
	res := r.result(e, a, v, reason, started, took)
	if r.opts.Observer != nil {
		r.opts.Observer.Attempted(res.Attempt.Outcome, a.status, took)
	}
	// The worker goes on to its next event while the attempt is committed:
	// a crash before the commit only means the lease runs out and the event
	// is sent again, counted as an attempt that may have landed.
	r.recording <- struct{}{}
	r.records.Add(1)
	go func() {
		defer func() { <-r.recording; r.records.Done() }()
		r.record(e, res, v, reason)
	}()
	return report{verdict: v, reason: reason, probe: probe, retryAfter: a.retryAfter}
}

// latest keeps the later of v and t.
func latest(v *atomic.Int64, t time.Time) {
	n := t.UnixNano()
	for {
		cur := v.Load()
		if cur >= n || v.CompareAndSwap(cur, n) {
			return
		}
	}
}

// refusedAlone reports whether a pausing answer (401, 403, a redirect, 404,
// 405) is about this event alone: it drew one before, and an attempt that
// started after that one, and after every pausing answer since, was
// accepted. A token revoked anew refuses every event: the first answers of
// that outage pause the relay, and an event struck in an outage long past
// is not rejected for it.
func (r *Relay) refusedAlone(e sidecar.Event) bool {
	acc := r.accepted.Load()
	return e.RefusedAlone > 0 && acc > e.LastRefusedAt.UnixNano() && acc > r.refused.Load()
}

// record commits an attempt, logs it, and tells the event's waiters.
func (r *Relay) record(e sidecar.Event, res sidecar.Result, v verdict, reason string) {
	status, took := res.Attempt.Status, res.Attempt.Duration
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.RequestTimeout+10*time.Second)
	defer cancel()
	if err := r.opts.Store.Record(ctx, res); err != nil {
		// The lease runs out and the event is sent again; the upstream's
		// per-click dedup makes the repeat harmless.
		r.opts.Logger.Error("recording an attempt failed", "event_id", e.ID, "err", err)
		return
	}
	// One line per attempt, built only when its level is logged: at the
	// rates of a drain, formatting lines nobody reads costs real CPU.
	level := slog.LevelInfo
	if v == retry || v == pause || v == rejected {
		level = slog.LevelWarn
	}
	if r.opts.Logger.Enabled(ctx, level) {
		msg, extra := "event "+string(res.State), []any{"upstream_conversion_id", res.Upstream.ConversionID}
		switch v {
		case retry, pause:
			msg, extra = "upstream failure", []any{"reason", reason, "outcome", res.Attempt.Outcome, "next_attempt_at", res.NextAttemptAt}
		case rejected:
			msg, extra = "event rejected", []any{"reason", reason}
		}
		r.opts.Logger.Log(ctx, level, msg, append([]any{"event_id", e.ID, "state", res.State, "attempt", e.Attempts, "status", status, "duration_ms", took.Milliseconds()}, extra...)...)
	}
	if res.State != sidecar.StateQueued {
		r.waiters.finish(sidecar.Event{ID: e.ID, State: res.State, LastStatus: status, LastBody: res.Attempt.Body, Upstream: res.Upstream})
	}
}

// result is what the outbox records for an attempt: the state the answer
// and the event's history come to (sidecar.Answered), with what it means
// for the operator, and the next attempt's time when it failed.
func (r *Relay) result(e sidecar.Event, a answer, v verdict, reason string, started time.Time, took time.Duration) sidecar.Result {
	now := r.clock.Now()
	res := sidecar.Result{
		EventID:    e.ID,
		LeaseUntil: e.LeaseUntil,
		Attempt:    sidecar.Attempt{N: e.Attempts, StartedAt: started, Duration: took, Status: a.status, Error: reason, Body: string(a.body), MayHaveLanded: a.landed},
	}
	res.State, res.PossibleDouble = sidecar.Answered(e, v.reply(), a.landed)
	switch v {
	case delivered, duplicate:
		res.Upstream = upstreamResult(a.body)
		if v == duplicate && res.State == sidecar.StateDelivered {
			res.Attempt.Error = "already tracked: by an earlier attempt of this event, which may have landed unanswered"
		}
	case rejected:
		if res.State == sidecar.StateUnconfirmed {
			res.Attempt.Error = reason + "; an earlier attempt may have landed: most likely recorded by it"
		}
	case pause:
		// Not the event's fault, as far as anyone can tell yet: it stays
		// queued, due at once (behind every event due before it, so that
		// probes rotate), and the attempt does not count toward its retries.
		res.NextAttemptAt, res.Uncounted, res.RefusedAlone = now, true, true
		res.Attempt.Outcome = "paused"
	case retry:
		r.scheduleRetry(&res, e, a, now)
	}
	if res.PossibleDouble {
		res.Attempt.Error = strings.TrimPrefix(res.Attempt.Error+"; ", "; ") + "soft-matched, and GLP Winner may have recorded more than one of its attempts: it may hold it twice"
	}
	if res.Attempt.Outcome == "" {
		res.Attempt.Outcome = string(res.State) // a final state names itself
	}
	return res
}

// scheduleRetry sets when a failed event is tried again (the policy's
// schedule), or makes it dead once it is older than the retry age.
func (r *Relay) scheduleRetry(res *sidecar.Result, e sidecar.Event, a answer, now time.Time) {
	next, ok := r.policy.next(e, a.retryAfter, now)
	if !ok {
		res.State = sidecar.StateDead
		res.Attempt.Error += "; undelivered after " + r.opts.RetryMaxAge.String()
		landed := e.Landed
		if a.landed {
			landed++
		}
		res.PossibleDouble = sidecar.PossibleDouble(e.Conversion, landed)
		return
	}
	res.State, res.NextAttemptAt = sidecar.StateQueued, next
	res.Attempt.Outcome = "retry"
}

// payload is the upstream's body: providerId and the conversion's fields.
type payload struct {
	ProviderID int64 `json:"providerId"`
	sidecar.Conversion
}

// post sends one event and reads the answer.
func (r *Relay) post(e sidecar.Event) answer {
	body, err := json.Marshal(payload{ProviderID: r.opts.ProviderID, Conversion: e.Conversion.Upstream(r.opts.SendPersonal)})
	if err != nil {
		return answer{err: fmt.Errorf("encode: %w", err)}
	}
	target := r.url
	if e.Test || r.opts.TestMode {
		target += "?testMode=true"
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.sendTimeout(e))
	defer cancel()
	// Whether the request was written tells an attempt that never left
	// (connection refused, DNS, TLS, a dial timeout) from one that may have
	// landed: written, and no answer read.
	var connected, wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:      func(httptrace.GotConnInfo) { connected.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.opts.Token)
	req.Header.Set("User-Agent", "glp-sidecar")
	resp, err := r.client.Do(req)
	if err != nil {
		return unanswered(scrub(err), connected.Load(), wrote.Load())
	}
	defer resp.Body.Close()
	// A little more than is kept, so that a token echoed across the cut is
	// read whole, redacted, and only then cut off (answer.redacted).
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+redactSlack(r.opts.Token)))
	if err != nil {
		return unanswered(fmt.Errorf("read answer: %w", scrub(err)), true, true)
	}
	return answer{status: resp.StatusCode, body: b, header: resp.Header, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), r.clock.Now())}
}

// unanswered is an attempt without an answer, saying whether it may have
// landed.
func unanswered(err error, connected, wrote bool) answer {
	switch {
	case wrote:
		return answer{err: fmt.Errorf("request written, no answer read (it may have landed): %w", err), landed: true}
	case connected:
		return answer{err: fmt.Errorf("request not written: %w", err)}
	}
	return answer{err: fmt.Errorf("no connection, request not sent: %w", err)}
}

// scrub drops the URL wrapper of a client error: what went wrong is the
// cause, and the URL is in the configuration already.
func scrub(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if ue.Timeout() || errors.Is(ue.Err, context.DeadlineExceeded) {
		return errors.New("timed out (GLP_REQUEST_TIMEOUT)")
	}
	return ue.Err
}
