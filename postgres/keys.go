package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
)

var _ sidecar.KeyStore = (*Store)(nil)

// KeyFingerprint is the fingerprint of the file key the outbox was written
// with, "" for none.
func (s *Store) KeyFingerprint(ctx context.Context) (string, error) {
	var fp string
	err := s.pool.QueryRow(ctx, `SELECT fingerprint FROM glp.data_key_file WHERE id = 1`).Scan(&fp)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return fp, s.describe(err)
}

// SetKeyFingerprint records the file key's fingerprint, once; sidecars
// starting together agree on the first.
func (s *Store) SetKeyFingerprint(ctx context.Context, fp string) error {
	if _, err := s.exec(ctx, `INSERT INTO glp.data_key_file (id, fingerprint) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, fp); err != nil {
		return err
	}
	cur, err := s.KeyFingerprint(ctx)
	if err == nil && cur != fp {
		return &sidecar.Error{Code: sidecar.EConflict, Message: "the outbox was written with key " + cur}
	}
	return err
}

// DataKeys returns the data keys not destroyed.
func (s *Store) DataKeys(ctx context.Context) ([]sidecar.DataKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT day, wrapped FROM glp.data_keys ORDER BY day`)
	if err != nil {
		return nil, fmt.Errorf("read data keys: %w", s.describe(err))
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sidecar.DataKey, error) {
		var k sidecar.DataKey
		return k, row.Scan(&k.Day, &k.Wrapped)
	})
	if err != nil {
		return nil, fmt.Errorf("read data keys: %w", s.describe(err))
	}
	return keys, nil
}

// AddDataKey stores a day's key unless the day has one (another sidecar of
// the fleet may have stored it first), and returns the day's key.
func (s *Store) AddDataKey(ctx context.Context, k sidecar.DataKey) (sidecar.DataKey, error) {
	if _, err := s.exec(ctx, `INSERT INTO glp.data_keys (day, wrapped, created_at) VALUES ($1, $2, $3) ON CONFLICT (day) DO NOTHING`, k.Day, k.Wrapped, sidecar.MS(s.now())); err != nil {
		return k, fmt.Errorf("store data key: %w", err)
	}
	out := sidecar.DataKey{Day: k.Day}
	err := s.pool.QueryRow(ctx, `SELECT wrapped FROM glp.data_keys WHERE day = $1`, k.Day).Scan(&out.Wrapped)
	return out, s.describe(err)
}

// DestroyDataKeys deletes the keys of the days before the given one, then
// vacuums the table, so that their old row versions go too.
func (s *Store) DestroyDataKeys(ctx context.Context, before string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `DELETE FROM glp.data_keys WHERE day < $1 RETURNING day`, before)
	if err != nil {
		return nil, fmt.Errorf("destroy data keys: %w", s.describe(err))
	}
	days, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("destroy data keys: %w", s.describe(err))
	}
	if len(days) > 0 {
		s.vacuumKeys(ctx)
	}
	return days, nil
}

// vacuumKeys removes the deleted or replaced rows' versions of the data
// keys table (the WAL and backups keep them: docs/data-retention.md).
func (s *Store) vacuumKeys(ctx context.Context) {
	if _, err := s.pool.Exec(ctx, `VACUUM glp.data_keys`); err != nil {
		s.log.Warn("vacuum of the data keys failed: their old row versions stay until autovacuum", "err", s.describe(err))
	}
}

// RewrapDataKeys replaces the wrapped keys and the fingerprint in one
// transaction.
func (s *Store) RewrapDataKeys(ctx context.Context, keys []sidecar.DataKey, fp string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `UPDATE glp.data_keys SET wrapped = $1 WHERE day = $2`, k.Wrapped, k.Day); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO glp.data_key_file (id, fingerprint) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint`, fp)
		return err
	})
	if err != nil {
		return fmt.Errorf("re-wrap data keys: %w", s.describe(err))
	}
	s.vacuumKeys(ctx)
	return nil
}
