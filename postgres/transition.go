package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// What changes an event goes through sidecar.Transition: a write reads the
// events' rows in its transaction (FOR UPDATE), asks what the happening
// does to each, and writes the rows it gets back. The rules live there;
// this file keeps the rows.

// clock is the store's time as it keeps it, to the millisecond.
func (s *Store) clock() time.Time { return sidecar.FromMS(sidecar.MS(s.now())) }

// readEvents reads the rows a query of sidecar.EventColumns selects, with their
// payloads undecoded.
func readEvents(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]sidecar.Event, [][]byte, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	return sidecar.ScanEventRows(rows)
}

// transitions applies h to each event, as sidecar.Transition decides, and
// returns the events it applied to, as they are to be written; the first
// refusal (a retry of an event that may not be sent again) ends it.
func transitions(events []sidecar.Event, h sidecar.Happening, now time.Time) ([]sidecar.Event, error) {
	return transitionsEach(events, func(sidecar.Event) sidecar.Happening { return h }, now)
}

// transitionsEach is transitions with a happening of each event's own
// (a release names each event's lease).
func transitionsEach(events []sidecar.Event, h func(sidecar.Event) sidecar.Happening, now time.Time) ([]sidecar.Event, error) {
	changed := events[:0:0]
	for _, e := range events {
		next, ok, err := sidecar.Transition(e, h(e), now)
		if err != nil {
			return nil, err
		}
		if ok {
			changed = append(changed, next)
		}
	}
	return changed, nil
}

// updateEvents writes every column a transition may change, for a batch of
// events in one statement.
const updateEvents = `UPDATE glp.events e SET state = u.state, attempts = u.attempts, next_attempt_at = u.next, lease_until = u.lease,
		last_status = u.status, last_error = u.error, last_body = u.body,
		upstream_conversion_id = u.conv, upstream_click_id = u.click, upstream_recorded_at = u.recorded,
		queued_at = u.queued, updated_at = u.updated, finished_at = u.finished,
		landed = u.landed, possible_double = u.double, refused_alone = u.refused, last_refused_at = u.refused_at
	FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[], $5::bigint[], $6::integer[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[], $15::integer[], $16::boolean[],
		$17::integer[], $18::bigint[])
		AS u(id, state, attempts, next, lease, status, error, body, conv, click, recorded, queued, updated, finished, landed, double, refused, refused_at)
	WHERE e.id = u.id`

// writeEvents queues on b the write of the events' rows as transitions
// left them.
func writeEvents(b *pgx.Batch, events []sidecar.Event) {
	if len(events) == 0 {
		return
	}
	n := len(events)
	var (
		ids, states, errs, bodies, convs, clicks, recorded = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		attempts, statuses, landed, refused                = make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
		next, queued, updated                              = make([]int64, n), make([]int64, n), make([]int64, n)
		leases, finished, refusedAt                        = make([]*int64, n), make([]*int64, n), make([]*int64, n)
		doubles                                            = make([]bool, n)
	)
	for i, e := range events {
		ids[i], states[i], attempts[i], next[i], leases[i] = e.ID, string(e.State), int32(e.Attempts), sidecar.MS(e.NextAttemptAt), nullMS(e.LeaseUntil)
		statuses[i], errs[i], bodies[i] = int32(e.LastStatus), e.LastError, e.LastBody
		convs[i], clicks[i], recorded[i] = e.Upstream.ConversionID, e.Upstream.ClickID, e.Upstream.RecordedAt
		queued[i], updated[i], finished[i] = sidecar.MS(e.QueuedAt), sidecar.MS(e.UpdatedAt), nullMS(e.FinishedAt)
		landed[i], doubles[i], refused[i], refusedAt[i] = int32(e.Landed), e.PossibleDouble, int32(e.RefusedAlone), nullMS(e.LastRefusedAt)
	}
	b.Queue(updateEvents, ids, states, attempts, next, leases, statuses, errs, bodies, convs, clicks, recorded, queued, updated, finished,
		landed, doubles, refused, refusedAt)
}

// runBatch sends b on tx and reads every result.
func runBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// nullMS is t in milliseconds, or nil (NULL) for no time.
func nullMS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := sidecar.MS(t)
	return &v
}
