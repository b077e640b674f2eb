package capture

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
	"github.com/glpwinner/glp-sidecar/internal/limit"
	"github.com/glpwinner/glp-sidecar/internal/web"
)

// Click-log bounds: defaults.
const (
	DefaultMaxClicks      = 100_000          // rows the click log keeps; the oldest go first
	DefaultAddressBurst   = 10               // landings one address (an IPv6 /64) may log at once…
	DefaultAddressEvery   = time.Minute      // …and one more per this after
	DefaultSameClickEvery = 10 * time.Minute // one address logs the same click id once per this
	clickQueueLen         = 4096             // landings waiting to be written
	clickBatch            = 256              // landings written in one transaction at most
	clickFlushEvery       = 200 * time.Millisecond
	clickLimiterEntries   = 65536 // addresses (and address + click id pairs) the limits track at most
	clickWriteTimeout     = 30 * time.Second
)

// Why a landing was not logged, for the metric.
const (
	DropAddress   = "address"      // the address logged too many landings
	DropSameClick = "same_click"   // the address logged this click id a moment ago
	DropQueueFull = "queue_full"   // the writer is behind
	DropOldest    = "oldest"       // the log was full: the oldest landings made room
	DropFailed    = "write_failed" // the outbox refused the batch
)

// ClickStore keeps clicks in batches and the newest keep of them only: the
// outbox, at a priority below the accepts'.
type ClickStore interface {
	RecordClicks(ctx context.Context, clicks []sidecar.Click, keep int) (pruned int, err error)
}

// DropObserver counts landings that were not logged, by reason: metrics.
type DropObserver interface {
	ClicksDropped(reason string, n int)
}

// ClickLogOptions configure a ClickLog.
type ClickLogOptions struct {
	Store     ClickStore   // required
	MaxClicks int          // 0 is DefaultMaxClicks
	Observer  DropObserver // nil: not counted
	Logger    *slog.Logger
}

// ClickLog is the Recorder for a public listener: landings are limited per
// address and per address and click id, queued, and written in batches by
// Run, so that a flood of landings neither fills the disk nor takes the
// writer from the accepts. Past its bounds a landing is dropped (counted):
// the visitor's cookie is set all the same.
type ClickLog struct {
	opts      ClickLogOptions
	queue     chan sidecar.Click
	perAddr   *limit.Table[netip.Prefix]
	sameClick *limit.Table[addrClick]
}

type addrClick struct {
	addr  netip.Prefix
	click string
}

// NewClickLog returns a click log; Run writes it.
func NewClickLog(opts ClickLogOptions) *ClickLog {
	if opts.Store == nil {
		panic("capture: a click log needs a store")
	}
	if opts.MaxClicks <= 0 {
		opts.MaxClicks = DefaultMaxClicks
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &ClickLog{
		opts:      opts,
		queue:     make(chan sidecar.Click, clickQueueLen),
		perAddr:   limit.New[netip.Prefix](1/DefaultAddressEvery.Seconds(), DefaultAddressBurst, clickLimiterEntries),
		sameClick: limit.New[addrClick](1/DefaultSameClickEvery.Seconds(), 1, clickLimiterEntries),
	}
}

// RecordClick queues a landing, unless its address is over its limits or
// the queue is full. It never waits.
func (l *ClickLog) RecordClick(_ context.Context, c sidecar.Click) error {
	a, _ := netip.ParseAddr(c.IP) // the zero Addr's key for none: one bucket for all
	key := web.ClientKey(a)
	// The address first: a flood from one address never reaches the
	// per-click table. A reload counts toward its address's landings.
	if l.perAddr.Allow(key, c.At) > 0 {
		l.dropped(DropAddress, 1)
		return nil
	}
	if l.sameClick.Allow(addrClick{key, c.ClickID}, c.At) > 0 {
		l.dropped(DropSameClick, 1)
		return nil
	}
	select {
	case l.queue <- c:
	default:
		l.dropped(DropQueueFull, 1)
	}
	return nil
}

func (l *ClickLog) dropped(reason string, n int) {
	if l.opts.Observer != nil && n > 0 {
		l.opts.Observer.ClicksDropped(reason, n)
	}
}

// Run writes queued landings in batches until ctx ends, then writes what
// is left.
func (l *ClickLog) Run(ctx context.Context) {
	t := time.NewTicker(clickFlushEvery)
	defer t.Stop()
	batch := make([]sidecar.Click, 0, clickBatch)
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case c := <-l.queue:
					if batch = append(batch, c); len(batch) == clickBatch {
						batch = l.write(batch)
					}
				default:
					l.write(batch)
					return
				}
			}
		case c := <-l.queue:
			if batch = append(batch, c); len(batch) == clickBatch {
				batch = l.write(batch)
			}
		case <-t.C:
			batch = l.write(batch)
		}
	}
}

// write stores a batch and returns it emptied.
func (l *ClickLog) write(batch []sidecar.Click) []sidecar.Click {
	if len(batch) == 0 {
		return batch
	}
	ctx, cancel := context.WithTimeout(context.Background(), clickWriteTimeout)
	defer cancel()
	pruned, err := l.opts.Store.RecordClicks(ctx, batch, l.opts.MaxClicks)
	if err != nil {
		// The cookies are set all the same; only the local log misses them.
		l.opts.Logger.Warn("clicks not logged", "clicks", len(batch), "err", err)
		l.dropped(DropFailed, len(batch))
	}
	l.dropped(DropOldest, pruned)
	return batch[:0]
}
