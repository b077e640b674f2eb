package ingest

import (
	"log/slog"
	"sync"
	"time"
)

// notStoredEvery is the least time between two log lines of conversions
// refused because the store cannot write (a full disk, a file no longer at
// GLP_DB_PATH, the database down): the cause is one, the refusals are every
// request's, and one ERROR line per request buried the log (2,912 in 3 s on
// a full disk). The metrics count every refusal.
const notStoredEvery = time.Second

// notStoredLog logs those refusals once per notStoredEvery at most, with
// how many were refused since its last line.
type notStoredLog struct {
	log *slog.Logger
	now func() time.Time
	msg string // the line's message: "conversion not stored" unless set

	mu      sync.Mutex
	last    time.Time
	skipped int
}

// refused logs err now, or counts it for the next line.
func (l *notStoredLog) refused(err error) {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < notStoredEvery {
		l.skipped++
		l.mu.Unlock()
		return
	}
	skipped := l.skipped
	l.last, l.skipped = now, 0
	l.mu.Unlock()
	msg := l.msg
	if msg == "" {
		msg = "conversion not stored"
	}
	l.log.Error(msg, "err", err, "also_refused_since_last_line", skipped)
}
