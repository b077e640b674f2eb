package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
)

var _ sidecar.AuditStore = (*Store)(nil)

// AppendAudit chains the line to the last one and stores it. The table
// lock makes the sidecars of a fleet append one at a time, so the chain
// has no fork.
func (s *Store) AppendAudit(ctx context.Context, e sidecar.AuditEntry) (sidecar.AuditEntry, error) {
	var out sidecar.AuditEntry
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE glp.audit IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var seq int64
		var hash string
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM glp.audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `SELECT seq, hash FROM glp.audit_anchor WHERE id = 1`).Scan(&seq, &hash)
			if errors.Is(err, pgx.ErrNoRows) {
				err = nil
			}
		}
		if err != nil {
			return err
		}
		out = e.Chain(seq, hash)
		_, err = tx.Exec(ctx, `INSERT INTO glp.audit (seq, at, "user", client, action, target, status, prev, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			out.Seq, sidecar.MS(out.At), out.User, out.Client, out.Action, out.Target, out.Status, out.Prev, out.Hash)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("append audit: %w", s.describe(err))
	}
	return out, nil
}

// AuditLines walks the lines in [from, to) in order.
func (s *Store) AuditLines(ctx context.Context, from, to time.Time, fn func(sidecar.AuditEntry) error) (string, error) {
	var anchor string
	if err := s.pool.QueryRow(ctx, `SELECT hash FROM glp.audit_anchor WHERE id = 1`).Scan(&anchor); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("read audit anchor: %w", s.describe(err))
	}
	hi := int64(1<<63 - 1)
	if !to.IsZero() {
		hi = sidecar.MS(to)
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, at, "user", client, action, target, status, prev, hash FROM glp.audit WHERE at >= $1 AND at < $2 ORDER BY seq`, sidecar.MS(from), hi)
	if err != nil {
		return "", fmt.Errorf("read audit: %w", s.describe(err))
	}
	defer rows.Close()
	for rows.Next() {
		var e sidecar.AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.User, &e.Client, &e.Action, &e.Target, &e.Status, &e.Prev, &e.Hash); err != nil {
			return "", err
		}
		e.At = sidecar.FromMS(at)
		if err := fn(e); err != nil {
			return "", err
		}
	}
	return anchor, s.describe(rows.Err())
}

// RetainAudit deletes the lines older than age and keeps the last one's
// hash as the anchor.
func (s *Store) RetainAudit(ctx context.Context, age time.Duration) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE glp.audit IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var seq int64
		var hash string
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM glp.audit WHERE at < $1 ORDER BY seq DESC LIMIT 1`, sidecar.MS(s.now().Add(-age))).Scan(&seq, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			n = 0
			return nil
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM glp.audit WHERE seq <= $1`, seq)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `INSERT INTO glp.audit_anchor (id, seq, hash) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, seq, hash)
		return err
	})
	return int(n), s.describe(err)
}
