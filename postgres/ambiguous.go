package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// settleTimeout bounds how long an accept whose commit's answer was lost
// spends finding out whether it was stored, retries included.
const settleTimeout = 2 * time.Second

// settlePause is the wait between two attempts to settle.
const settlePause = 100 * time.Millisecond

// ambiguous reports whether err leaves a write's fate unknown: the
// statement (an autocommitted insert, so its commit) was sent and the
// connection broke before its answer was read. An error the server sent
// (a PgError) is a definite answer, and so is one that says nothing was
// sent (a failed connect, pgconn.SafeToRetry).
func ambiguous(err error) bool {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	return err != nil && !errors.As(err, &pe) && !errors.As(err, &ce) && !pgconn.SafeToRetry(err) &&
		!errors.Is(err, context.Canceled) && unreachable(err)
}

// settle finds out, on another connection and within settleTimeout,
// which of the batch's events are stored after its insert's answer was
// lost, and returns their ids. It inserts the same rows again (the same
// ids, the same keys, ON CONFLICT DO NOTHING): an insert still in flight
// on the broken connection holds its ids' index entries, so this one waits
// for it to commit or roll back instead of reading a snapshot from before
// it; then it reads which ids are there. Either way an event is stored
// once, under the id its caller is answered with. When it cannot tell in
// time, its error is EUnavailable with sidecar.ErrStoredUnknown in the
// chain, so that the answer says so rather than "nothing was stored".
func (s *Store) settle(ids, keys, payloads []string, tests []bool, sources []string, lost error) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	var err error
	for {
		var stored []string
		if _, err = s.pool.Exec(ctx, appendEvents, ids, keys, payloads, tests, sources, sidecar.MS(s.now())); err == nil {
			var rows pgx.Rows
			if rows, err = s.pool.Query(ctx, `SELECT id FROM glp.events WHERE id = ANY($1)`, ids); err == nil {
				stored, err = pgx.CollectRows(rows, pgx.RowTo[string])
			}
		}
		if err == nil {
			s.log.Warn("an accept's commit lost its answer; found out on another connection",
				"events", len(ids), "stored", len(stored), "err", s.scrub(lost))
			return stored, nil
		}
		if sidecar.ErrorCode(s.describe(err)) != sidecar.EUnavailable || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(settlePause):
		}
	}
	s.log.Warn("an accept's commit lost its answer and whether it was stored could not be found out in time",
		"events", len(ids), "within", settleTimeout, "err", s.scrub(lost), "settle_err", s.scrub(err))
	return nil, &sidecar.Error{Code: sidecar.EUnavailable,
		Message: unavailableMsg + ": the connection broke after the write was sent, and whether it was stored could not be found out in time",
		Err:     errors.Join(sidecar.ErrStoredUnknown, s.scrub(lost))}
}
