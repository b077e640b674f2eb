package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// RecordClick appends a landing to the click log.
func (o *Outbox) RecordClick(ctx context.Context, c sidecar.Click) error {
	var utm []byte
	if len(c.UTM) > 0 {
		utm, _ = json.Marshal(c.UTM)
	}
	_, err := o.exec(ctx, `INSERT INTO clicks (click_id, at, ip, user_agent, path, referrer, utm) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ClickID, ms(c.At), c.IP, c.UserAgent, c.Path, c.Referrer, string(utm))
	if err != nil {
		return fmt.Errorf("record click: %w", err)
	}
	return nil
}

// MatchClick returns the click id of the most recent click since the given
// time from the same address and user agent.
func (o *Outbox) MatchClick(ctx context.Context, ip, userAgent string, since time.Time) (string, bool, error) {
	var id string
	err := o.rdb.QueryRowContext(ctx, `SELECT click_id FROM clicks WHERE ip = ? AND user_agent = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT 1`,
		ip, userAgent, ms(since)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("match click: %w", err)
	}
	return id, true, nil
}

// Clicks returns the most recent clicks, newest first.
func (o *Outbox) Clicks(ctx context.Context, limit int) ([]sidecar.Click, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	rows, err := o.rdb.QueryContext(ctx, `SELECT click_id, at, ip, user_agent, path, referrer, utm FROM clicks ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list clicks: %w", err)
	}
	defer rows.Close()
	out := []sidecar.Click{}
	for rows.Next() {
		var c sidecar.Click
		var at int64
		var utm string
		if err := rows.Scan(&c.ClickID, &at, &c.IP, &c.UserAgent, &c.Path, &c.Referrer, &utm); err != nil {
			return nil, err
		}
		c.At = fromMS(at)
		if utm != "" {
			_ = json.Unmarshal([]byte(utm), &c.UTM)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
