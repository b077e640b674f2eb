package outbox

import (
	"context"

	sidecar "github.com/glpwinner/glp-sidecar"
)

var _ sidecar.Store = (*Outbox)(nil)

// Listen waits for ctx: only the serving process delivers from the file,
// and its own accepts wake its relay directly.
func (o *Outbox) Listen(ctx context.Context, wake func()) error {
	<-ctx.Done()
	return nil
}
