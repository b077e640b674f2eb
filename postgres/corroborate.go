package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// ClickKey returns the key that signs click cookies: made at random by the
// first sidecar of the fleet and kept in the keys table, so that every
// sidecar tells the cookies any of them set.
func (s *Store) ClickKey(ctx context.Context) ([]byte, error) {
	key := make([]byte, sidecar.ClickKeySize)
	rand.Read(key)
	if _, err := s.exec(ctx, `INSERT INTO glp.keys (name, value) VALUES ('click', $1) ON CONFLICT (name) DO NOTHING`, key); err != nil {
		return nil, fmt.Errorf("click key: %w", s.describe(err))
	}
	var kept []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM glp.keys WHERE name = 'click'`).Scan(&kept); err != nil {
		return nil, fmt.Errorf("click key: %w", s.describe(err))
	}
	if len(kept) < sidecar.ClickKeySize {
		return nil, errors.New("click key: the stored key is too short")
	}
	return kept, nil
}

// ClickLandedFrom returns the addresses that landed on clickID since a time
// (at most 100, the newest first): what corroborates a browser call.
func (s *Store) ClickLandedFrom(ctx context.Context, clickID string, since time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT ip FROM glp.clicks WHERE click_id = $1 AND at >= $2 ORDER BY at DESC LIMIT 100`, clickID, sidecar.MS(since))
	if err != nil {
		return nil, fmt.Errorf("click landings: %w", s.describe(err))
	}
	ips, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("click landings: %w", s.describe(err))
	}
	return ips, nil
}
