package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

var _ sidecar.AuditStore = (*Store)(nil)

// AppendAudit chains the line to the last one and stores it; the writer
// takes one write at a time.
func (o *Store) AppendAudit(ctx context.Context, e sidecar.AuditEntry) (sidecar.AuditEntry, error) {
	var out sidecar.AuditEntry
	err := o.writer.write(ctx, func(tx *txn) error {
		seq, hash, err := lastAudit(tx)
		if err != nil {
			return err
		}
		out = e.Chain(seq, hash)
		_, err = tx.Exec(`INSERT INTO audit (seq, at, user, client, action, target, status, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			out.Seq, sidecar.MS(out.At), out.User, out.Client, out.Action, out.Target, out.Status, out.Prev, out.Hash)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("append audit: %w", err)
	}
	return out, nil
}

// lastAudit is the last line's seq and hash, else the anchor's.
func lastAudit(tx *txn) (int64, string, error) {
	var seq int64
	var hash string
	err := tx.QueryRow(`SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRow(`SELECT seq, hash FROM audit_anchor WHERE id = 1`).Scan(&seq, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, "", nil
		}
	}
	return seq, hash, err
}

// AuditLines walks the lines in [from, to) in order.
func (o *Store) AuditLines(ctx context.Context, from, to time.Time, fn func(sidecar.AuditEntry) error) (string, error) {
	var anchor string
	if err := o.rdb.QueryRowContext(ctx, `SELECT hash FROM audit_anchor WHERE id = 1`).Scan(&anchor); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read audit anchor: %w", err)
	}
	hi := int64(1<<63 - 1)
	if !to.IsZero() {
		hi = sidecar.MS(to)
	}
	rows, err := o.rdb.QueryContext(ctx, `SELECT seq, at, user, client, action, target, status, prev, hash FROM audit WHERE at >= ? AND at < ? ORDER BY seq`, sidecar.MS(from), hi)
	if err != nil {
		return "", fmt.Errorf("read audit: %w", err)
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
	return anchor, rows.Err()
}

// RetainAudit deletes the lines older than age and keeps the last one's
// hash as the anchor.
func (o *Store) RetainAudit(ctx context.Context, age time.Duration) (int, error) {
	var n int64
	err := o.writer.write(ctx, func(tx *txn) error {
		var seq int64
		var hash string
		err := tx.QueryRow(`SELECT seq, hash FROM audit WHERE at < ? ORDER BY seq DESC LIMIT 1`, sidecar.MS(o.now().Add(-age))).Scan(&seq, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			n = 0
			return nil
		}
		if err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM audit WHERE seq <= ?`, seq)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, seq, hash)
		return err
	})
	return int(n), err
}
