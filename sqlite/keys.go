package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	sidecar "github.com/glpwinner/glp-sidecar"
)

var _ sidecar.KeyStore = (*Store)(nil)

// KeyFingerprint is the fingerprint of the file key the outbox was written
// with, "" for none.
func (o *Store) KeyFingerprint(ctx context.Context) (string, error) {
	var fp string
	err := o.rdb.QueryRowContext(ctx, `SELECT fingerprint FROM data_key_file WHERE id = 1`).Scan(&fp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return fp, err
}

// SetKeyFingerprint records the file key's fingerprint, once.
func (o *Store) SetKeyFingerprint(ctx context.Context, fp string) error {
	return o.writer.write(ctx, func(tx *txn) error {
		var cur string
		err := tx.QueryRow(`SELECT fingerprint FROM data_key_file WHERE id = 1`).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.Exec(`INSERT INTO data_key_file (id, fingerprint) VALUES (1, ?)`, fp)
			return err
		case err != nil:
			return err
		case cur != fp:
			return &sidecar.Error{Code: sidecar.EConflict, Message: "the outbox was written with key " + cur}
		}
		return nil
	})
}

// DataKeys returns the data keys not destroyed.
func (o *Store) DataKeys(ctx context.Context) ([]sidecar.DataKey, error) {
	rows, err := o.rdb.QueryContext(ctx, `SELECT day, wrapped FROM data_keys ORDER BY day`)
	if err != nil {
		return nil, fmt.Errorf("read data keys: %w", err)
	}
	defer rows.Close()
	var out []sidecar.DataKey
	for rows.Next() {
		var k sidecar.DataKey
		if err := rows.Scan(&k.Day, &k.Wrapped); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddDataKey stores a day's key unless the day has one, and returns the
// day's key.
func (o *Store) AddDataKey(ctx context.Context, k sidecar.DataKey) (sidecar.DataKey, error) {
	out := sidecar.DataKey{Day: k.Day}
	err := o.writer.write(ctx, func(tx *txn) error {
		if _, err := tx.Exec(`INSERT INTO data_keys (day, wrapped, created_at) VALUES (?, ?, ?) ON CONFLICT (day) DO NOTHING`, k.Day, k.Wrapped, sidecar.MS(o.now())); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT wrapped FROM data_keys WHERE day = ?`, k.Day).Scan(&out.Wrapped)
	})
	return out, err
}

// DestroyDataKeys deletes the keys of the days before the given one, then
// cuts the WAL, which still held their rows (the file zeroes what it
// deletes: secure_delete).
func (o *Store) DestroyDataKeys(ctx context.Context, before string) ([]string, error) {
	var days []string
	err := o.writer.write(ctx, func(tx *txn) error {
		days = days[:0]
		rows, err := tx.Query(`DELETE FROM data_keys WHERE day < ? RETURNING day`, before)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				return err
			}
			days = append(days, d)
		}
		return rows.Err()
	})
	if err != nil || len(days) == 0 {
		return nil, err
	}
	return days, o.truncateWAL(ctx)
}

// RewrapDataKeys replaces the wrapped keys and the fingerprint at once,
// then cuts the WAL, which held them wrapped by the old key.
func (o *Store) RewrapDataKeys(ctx context.Context, keys []sidecar.DataKey, fp string) error {
	err := o.writer.write(ctx, func(tx *txn) error {
		for _, k := range keys {
			if _, err := tx.Exec(`UPDATE data_keys SET wrapped = ? WHERE day = ?`, k.Wrapped, k.Day); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`INSERT INTO data_key_file (id, fingerprint) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint`, fp)
		return err
	})
	if err != nil {
		return err
	}
	return o.truncateWAL(ctx)
}
