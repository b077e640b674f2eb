package sidecar

import "time"

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
}
