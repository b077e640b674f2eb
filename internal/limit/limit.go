// Package limit keeps a token bucket (golang.org/x/time/rate) per key, in
// a table of bounded size, for limits that strangers choose the keys of:
// client addresses, click ids, log reasons.
package limit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sweepEvery is how often at most a full table is swept for buckets that
// filled up again (a sweep reads the whole table).
const sweepEvery = time.Second

// Table is a token bucket per key, tracking at most max keys. A key whose
// bucket has filled up again is forgotten, for it is the same as a new one;
// when the table is full of keys still in debt, an arbitrary one is
// forgotten, so that a client with many keys (who could use a fresh one
// anyway) never grows the table.
type Table[K comparable] struct {
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	m     map[K]*rate.Limiter
	swept time.Time
}

// New allows each key perSecond events on average and burst at once,
// tracking at most max keys.
func New[K comparable](perSecond float64, burst, max int) *Table[K] {
	if perSecond <= 0 || burst < 1 || max < 1 {
		panic("limit: a table needs a positive rate, burst and size")
	}
	return &Table[K]{limit: rate.Limit(perSecond), burst: burst, max: max, m: make(map[K]*rate.Limiter)}
}

// Allow takes one token from key's bucket at now. It returns 0 when the
// event may go on, else how long until a token is there (nothing is taken).
func (t *Table[K]) Allow(key K, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.m[key]
	if l == nil {
		if len(t.m) >= t.max {
			t.makeRoom(now)
		}
		l = rate.NewLimiter(t.limit, t.burst)
		t.m[key] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// Len is how many keys the table holds.
func (t *Table[K]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// makeRoom forgets the buckets that have filled up again, at most once per
// sweepEvery, and an arbitrary one when that freed nothing.
func (t *Table[K]) makeRoom(now time.Time) {
	if now.Sub(t.swept) >= sweepEvery {
		t.swept = now
		for k, l := range t.m {
			if l.TokensAt(now) >= float64(t.burst) {
				delete(t.m, k)
			}
		}
	}
	for k := range t.m {
		if len(t.m) < t.max {
			return
		}
		delete(t.m, k)
	}
}
