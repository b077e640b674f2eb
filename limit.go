package sidecar

import (
	"net/netip"
	"sync"
	"time"
)

// ClientKey is what the public listener's limits count a client address
// under: an IPv4 address itself, an IPv6 address's /64 (one subscriber's
// network: a client walks freely inside its own /64).
func ClientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// Limiter is a token bucket per key with a bounded table: at most max keys
// are tracked. A key whose bucket has filled up again is forgotten, for it
// is the same as a new one; when the table is full of keys still in debt,
// an arbitrary one is forgotten, so that a client with many keys (who could
// use a fresh one anyway) never grows the table.
type Limiter[K comparable] struct {
	perSecond float64
	burst     float64
	max       int
	mu        sync.Mutex
	m         map[K]*bucket
	swept     time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// limiterSweepEvery is how often at most a full table is swept for buckets
// that filled up again (a sweep reads the whole table).
const limiterSweepEvery = time.Second

// NewLimiter allows each key perSecond events on average and burst at
// once, tracking at most max keys.
func NewLimiter[K comparable](perSecond float64, burst, max int) *Limiter[K] {
	if perSecond <= 0 || burst < 1 || max < 1 {
		panic("sidecar: a limiter needs a positive rate, burst and table size")
	}
	return &Limiter[K]{perSecond: perSecond, burst: float64(burst), max: max, m: make(map[K]*bucket)}
}

// Allow takes one token from key's bucket at now. It returns 0 when the
// event may go on, else how long until a token is there (nothing is taken).
func (l *Limiter[K]) Allow(key K, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= l.max {
			l.makeRoom(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.m[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.perSecond)
		b.at = now
	}
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.perSecond * float64(time.Second))
	}
	b.tokens--
	return 0
}

// Len is how many keys the table holds.
func (l *Limiter[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// makeRoom forgets the buckets that have filled up again, at most once per
// limiterSweepEvery, and an arbitrary one when that freed nothing.
func (l *Limiter[K]) makeRoom(now time.Time) {
	if now.Sub(l.swept) >= limiterSweepEvery {
		l.swept = now
		full := time.Duration(l.burst / l.perSecond * float64(time.Second))
		for k, b := range l.m {
			if now.Sub(b.at) >= full {
				delete(l.m, k)
			}
		}
	}
	for k := range l.m {
		if len(l.m) < l.max {
			return
		}
		delete(l.m, k)
	}
}
