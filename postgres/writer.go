package postgres

import (
	"context"
	"time"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// submit hands req to a batch loop through ch and waits for its batch's
// outcome on done. Once submitted it does not give up when ctx ends: the
// write is then committed or not as a whole, and the caller learns which.
func submit[R any](s *Store, ctx context.Context, ch chan R, req R, done chan error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return sidecar.ErrClosed
	}
	select {
	case ch <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	return <-done
}

// batchLoop takes the requests waiting on ch, up to the store's maxBatch, and writes
// them with run, in one statement and one transaction, until Close: a burst
// costs a commit per batch rather than per write. Several loops run at
// once, so that one batch's commit overlaps the next one's statement and
// PostgreSQL flushes their commits together. A batch that fails for
// another reason than the database's state is written again one by one,
// so that one bad write never fails its neighbours.
func batchLoop[R any](s *Store, ch chan R, run func([]R) error, done func(R) chan error) {
	defer s.batchers.Done()
	for {
		var first R
		select {
		case first = <-ch:
		case <-s.quit:
			select { // what was submitted before Close
			case first = <-ch:
			default:
				return
			}
		}
		batch := []R{first}
	gather:
		for len(batch) < s.maxBatch {
			select {
			case r := <-ch:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		start := time.Now()
		err := s.wrote(run(batch))
		if err == nil && s.observer != nil {
			s.observer.Committed(len(batch), time.Since(start))
		}
		if err != nil && len(batch) > 1 && sidecar.ErrorCode(err) != sidecar.EUnavailable {
			for _, r := range batch {
				done(r) <- s.wrote(run([]R{r}))
			}
			continue
		}
		for _, r := range batch {
			done(r) <- err
		}
	}
}
