package postgres

import "context"

// OpenBatched is Open storing at most maxBatch appends (records) in one
// statement: 1 stores every one alone.
func OpenBatched(ctx context.Context, opts Options, maxBatch int) (*Store, error) {
	return open(ctx, opts, maxBatch)
}
