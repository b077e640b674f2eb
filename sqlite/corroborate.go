package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// ClickKey returns the key that signs click cookies: made at random by the
// first call and kept in the keys table, so that it outlives restarts.
func (o *Store) ClickKey(ctx context.Context) ([]byte, error) {
	key := make([]byte, sidecar.ClickKeySize)
	rand.Read(key)
	if _, err := o.exec(ctx, `INSERT INTO keys (name, value) VALUES ('click', ?) ON CONFLICT (name) DO NOTHING`, key); err != nil {
		return nil, fmt.Errorf("click key: %w", err)
	}
	var kept []byte
	if err := o.rdb.QueryRowContext(ctx, `SELECT value FROM keys WHERE name = 'click'`).Scan(&kept); err != nil {
		return nil, fmt.Errorf("click key: %w", err)
	}
	if len(kept) < sidecar.ClickKeySize {
		return nil, errors.New("click key: the stored key is too short")
	}
	return kept, nil
}

// ClickLandedFrom returns the addresses that landed on clickID since a time
// (at most 100, the newest first): what corroborates a browser call.
func (o *Store) ClickLandedFrom(ctx context.Context, clickID string, since time.Time) ([]string, error) {
	rows, err := o.rdb.QueryContext(ctx, `SELECT ip FROM clicks WHERE click_id = ? AND at >= ? ORDER BY at DESC LIMIT 100`, clickID, sidecar.MS(since))
	if err != nil {
		return nil, fmt.Errorf("click landings: %w", err)
	}
	return scanStrings(rows)
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
