// Package logtest holds what tests share to read a log while it is
// written: a buffer that several goroutines write and a test reads.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer collects what several goroutines write (a slog handler's output,
// a child's stdout) for a test to read at any time.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
