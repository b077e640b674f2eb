package sidecar

import (
	"net/netip"
	"time"
)

// Click is one landing with a click id, as the click log keeps it.
type Click struct {
	ClickID   string            `json:"glp_click_id"`
	At        time.Time         `json:"at"`
	IP        string            `json:"ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	Path      string            `json:"path,omitempty"`
	Referrer  string            `json:"referrer,omitempty"`
	UTM       map[string]string `json:"utm,omitempty"`
	TopLevel  bool              `json:"top_level"` // the browser said it navigated to the page (Sec-Fetch-Mode: navigate, Sec-Fetch-Dest: document): the local match uses no other

	// Net is the click log's fairness group: AddressRange(IP) when empty.
	// A store that seals IP gives the sealed range here, so that the
	// group holds no readable part of the address.
	Net string `json:"-"`
}

// Range is the click's fairness group: Net, else the range of its IP.
func (c Click) Range() string {
	if c.Net != "" {
		return c.Net
	}
	return AddressRange(c.IP)
}

// AddressRange is the range an address belongs to for the click log's
// fairness: its IPv4 /24 or IPv6 /48 (what one office, carrier NAT or
// customer holds, and what an attacker gets for free), "" for none.
func AddressRange(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// FairPruneLimit is how many clicks a click log holding n keeps no more
// than keep of deletes: none while it holds at most keep, else down to 1%
// below keep, so that a full log is trimmed once every few batches.
func FairPruneLimit(n, keep int) int {
	if n <= keep {
		return 0
	}
	return n - keep + keep/100
}

// FairPruneQuery is the statement, the same in SQLite and PostgreSQL but
// for its placeholder, that deletes the clicks a full log makes room from:
// the ranges' oldest landings beyond the most each range keeps, from the
// range that holds the most (each landing ranked by how many newer ones
// its range holds): a range flooding the log trims its own landings, never
// another range's while it holds more.
func FairPruneQuery(placeholder string) string {
	return `DELETE FROM clicks WHERE id IN (SELECT id FROM (
	SELECT id, ROW_NUMBER() OVER (PARTITION BY net ORDER BY id DESC) AS rank FROM clicks) ranked
	ORDER BY rank DESC, id LIMIT ` + placeholder + `)`
}
