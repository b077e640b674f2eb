package postgres

import (
	"context"
	"fmt"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// retain is retention's one statement: it erases the email, IP and
// session token of events finished before the cutoff ($1), with the
// upstream's answers to them, deletes the clicks logged before it, and
// counts the events it erased.
const retain = `WITH erased AS (
		UPDATE glp.events SET payload = payload - 'email' - 'ip' - 'session_token', last_body = '', erased = true
		WHERE finished_at IS NOT NULL AND NOT erased AND finished_at <= $1 RETURNING id),
	bodies AS (UPDATE glp.attempts SET body = '' WHERE body != '' AND event_id IN (SELECT id FROM erased)),
	clicks AS (DELETE FROM glp.clicks WHERE at <= $1)
	SELECT COUNT(*) FROM erased`

// Retain erases the email, IP and session token of events finished more
// than age ago (these are patients of telehealth providers), with the
// upstream's answers to them, and deletes clicks logged more than age ago,
// in one statement; it returns how many events it erased. The old row
// versions stay in the table's pages until VACUUM reclaims them
// (autovacuum does, on its own schedule: see docs/postgres.md).
func (s *Store) Retain(ctx context.Context, age time.Duration) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, retain, sidecar.MS(s.now().Add(-age))).Scan(&n)
	if err := s.wrote(err); err != nil {
		return 0, fmt.Errorf("erase personal data: %w", err)
	}
	return n, nil
}

// Purge deletes delivered and duplicate events finished more than age ago,
// with their attempts, and returns how many. Their idempotency keys are
// forgotten with them.
func (s *Store) Purge(ctx context.Context, age time.Duration) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM glp.events WHERE state IN ('delivered', 'duplicate') AND finished_at <= $1`, sidecar.MS(s.now().Add(-age)))
	if err != nil {
		return 0, fmt.Errorf("purge events: %w", err)
	}
	return n, nil
}

// Maintain erases personal data of events finished more than retention ago,
// every interval, until ctx ends. Every sidecar of a fleet runs it; the
// statements are idempotent.
func (s *Store) Maintain(ctx context.Context, retention, every time.Duration) {
	sidecar.RetainEvery(ctx, s.log, retention, every, s.Retain)
}
