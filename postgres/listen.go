package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// wake asks the notifier for a NOTIFY: events are queued.
func (s *Store) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// notifier sends one NOTIFY for however many writes poked it meanwhile,
// after they committed, outside their transactions: a transaction that
// notifies holds a database-wide lock through its commit, which would
// serialize the accepts' commits and defeat PostgreSQL's group commit.
func (s *Store) notifier() {
	defer close(s.done)
	for {
		select {
		case <-s.poke:
			s.notify()
		case <-s.stopNote:
			select {
			case <-s.poke:
				s.notify()
			default:
			}
			return
		}
	}
}

func (s *Store) notify() {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, '')`, Channel); err != nil {
		s.log.Debug("notify the fleet failed; relays find the events on their next look", "err", s.scrub(err))
	}
}

// Listen calls wake whenever an event is queued or requeued by any sidecar
// (this one included) or an operator's command, on a connection of its own,
// until ctx ends. When the connection breaks it connects again, and wakes
// the relay once it has, for what it may have missed meanwhile.
func (s *Store) Listen(ctx context.Context, wake func()) error {
	for ctx.Err() == nil {
		err := s.listen(ctx, wake)
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("listening for queued events failed; retrying", "err", s.scrub(err), "in", listenRetry.String())
		select {
		case <-ctx.Done():
		case <-time.After(listenRetry):
		}
	}
	return nil
}

func (s *Store) listen(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return err
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
