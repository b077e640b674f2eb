package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	sidecar "github.com/glpwinner/glp-sidecar"
)

const insertClick = `INSERT INTO glp.clicks (click_id, at, ip, user_agent, path, referrer, utm, top_level, net) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// RecordClick appends a landing to the click log, which every sidecar of
// the fleet reads, at once and alone.
func (s *Store) RecordClick(ctx context.Context, c sidecar.Click) error {
	if _, err := s.exec(ctx, insertClick, c.Columns()...); err != nil {
		return fmt.Errorf("record click: %w", err)
	}
	return nil
}

// pruneClicks keeps the newest $1 clicks of the log, which the fleet
// shares: the bound is the database's, not one sidecar's.
// pruneClicks makes room in a full click log fairly: see
// sidecar.FairPruneQuery.
var pruneClicks = strings.ReplaceAll(sidecar.FairPruneQuery("$1"), "FROM clicks", "FROM glp.clicks")

// RecordClicks appends landings to the click log in one transaction and
// makes room beyond keep from the ranges holding the most (fairly:
// sidecar.FairPruneQuery), returning how many it deleted.
func (s *Store) RecordClicks(ctx context.Context, clicks []sidecar.Click, keep int) (int, error) {
	b := &pgx.Batch{}
	for _, c := range clicks {
		b.Queue(insertClick, c.Columns()...)
	}
	var pruned int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM glp.clicks`).Scan(&n); err != nil {
			return err
		}
		limit := sidecar.FairPruneLimit(n, keep)
		if limit == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, pruneClicks, limit)
		pruned = int(tag.RowsAffected())
		return err
	})
	if err := s.wrote(err); err != nil {
		return 0, fmt.Errorf("record clicks: %w", err)
	}
	return pruned, nil
}

// MatchClick returns the click id of the most recent top-level landing
// since the given time from the same address and user agent.
func (s *Store) MatchClick(ctx context.Context, ip, userAgent string, since time.Time) (string, bool, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT click_id FROM glp.clicks WHERE ip = $1 AND user_agent = $2 AND at >= $3 AND top_level ORDER BY at DESC, id DESC LIMIT 1`,
		ip, userAgent, sidecar.MS(since)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("match click: %w", s.describe(err))
	}
	return id, true, nil
}

// Clicks returns the most recent clicks, newest first.
func (s *Store) Clicks(ctx context.Context, limit int) ([]sidecar.Click, error) {
	if limit <= 0 || limit > sidecar.MaxListLimit {
		limit = sidecar.MaxListLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT click_id, at, ip, user_agent, path, referrer, utm, top_level FROM glp.clicks ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list clicks: %w", s.describe(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sidecar.Click, error) {
		var c sidecar.Click
		var at int64
		var utm string
		err := row.Scan(&c.ClickID, &at, &c.IP, &c.UserAgent, &c.Path, &c.Referrer, &utm, &c.TopLevel)
		c.At = sidecar.FromMS(at)
		if utm != "" {
			_ = json.Unmarshal([]byte(utm), &c.UTM)
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list clicks: %w", s.describe(err))
	}
	if out == nil {
		out = []sidecar.Click{}
	}
	return out, nil
}
