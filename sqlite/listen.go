package sqlite

import (
	"context"
)

// Listen waits for ctx: only the serving process delivers from the file,
// and its own accepts wake its relay directly.
func (o *Store) Listen(ctx context.Context, wake func()) error {
	<-ctx.Done()
	return nil
}
