package outbox

import (
	"runtime"
	"testing"
)

// During a burst the writer lets the goroutines ready to run go first, so
// that the writes they are about to submit join the commit. On one P a
// ready goroutine runs only when the writer yields: without the turns none of
// their writes would be in the batch.
func TestBeforeACommitTheGoroutinesReadyToRunSubmitTheirWritesToIt(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	w := &writer{callers: make(chan *op, 8), maxBatch: 3}
	for range 4 {
		go func() { w.callers <- &op{} }() // ready, not yet run
	}
	batch := w.gather([]*op{{}}, w.callers)
	if len(batch) != 1 {
		t.Fatalf("gathered %d writes before any turn, want 1: the test needs the submitters not to have run", len(batch))
	}
	batch = w.gatherReady(batch)
	if len(batch) != 3 {
		t.Errorf("after the turns the batch has %d writes, want 3 (maxBatch)", len(batch))
	}
	if left := len(w.callers); left != 2 {
		t.Errorf("%d writes left queued, want 2 for the next batch", left)
	}
}
