package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

const insertClick = `INSERT INTO clicks (click_id, at, ip, user_agent, path, referrer, utm, top_level, net) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

// pruneClicks makes room in a full click log fairly: see
// sidecar.FairPruneQuery.
var pruneClicks = sidecar.FairPruneQuery("?")

// RecordClick appends a landing to the click log, at once and alone.
func (o *Store) RecordClick(ctx context.Context, c sidecar.Click) error {
	if _, err := o.exec(ctx, insertClick, c.Columns()...); err != nil {
		return fmt.Errorf("record click: %w", err)
	}
	return nil
}

// RecordClicks appends landings to the click log in one transaction and
// makes room beyond keep from the ranges holding the most (fairly:
// sidecar.FairPruneQuery), returning how many it deleted. It waits
// its turn like the relay's records: while accepts keep the writer busy,
// clicks wait (a quarter of a second at most) and never take a commit
// from them.
func (o *Store) RecordClicks(ctx context.Context, clicks []sidecar.Click, keep int) (int, error) {
	var pruned int64
	err := o.writer.writeRelay(ctx, func(tx *txn) error {
		pruned = 0
		for _, c := range clicks {
			if _, err := tx.Exec(insertClick, c.Columns()...); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM clicks`).Scan(&n); err != nil {
			return err
		}
		if limit := sidecar.FairPruneLimit(n, keep); limit > 0 {
			res, err := tx.Exec(pruneClicks, limit)
			if err != nil {
				return err
			}
			pruned, err = res.RowsAffected()
			return err
		}
		return nil
	}, true)
	if err != nil {
		return 0, fmt.Errorf("record clicks: %w", err)
	}
	return int(pruned), nil
}

// MatchClick returns the click id of the most recent top-level landing
// since the given time from the same address and user agent.
func (o *Store) MatchClick(ctx context.Context, ip, userAgent string, since time.Time) (string, bool, error) {
	var id string
	err := o.rdb.QueryRowContext(ctx, `SELECT click_id FROM clicks WHERE ip = ? AND user_agent = ? AND at >= ? AND top_level = 1 ORDER BY at DESC, id DESC LIMIT 1`,
		ip, userAgent, sidecar.MS(since)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("match click: %w", err)
	}
	return id, true, nil
}

// Clicks returns the most recent clicks, newest first.
func (o *Store) Clicks(ctx context.Context, limit int) ([]sidecar.Click, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	rows, err := o.rdb.QueryContext(ctx, `SELECT click_id, at, ip, user_agent, path, referrer, utm, top_level FROM clicks ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list clicks: %w", err)
	}
	defer rows.Close()
	out := []sidecar.Click{}
	for rows.Next() {
		var c sidecar.Click
		var at int64
		var utm string
		if err := rows.Scan(&c.ClickID, &at, &c.IP, &c.UserAgent, &c.Path, &c.Referrer, &utm, &c.TopLevel); err != nil {
			return nil, err
		}
		c.At = sidecar.FromMS(at)
		if utm != "" {
			_ = json.Unmarshal([]byte(utm), &c.UTM)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
