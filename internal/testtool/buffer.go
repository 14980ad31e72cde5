package testtool

import (
	"bytes"
	"sync"
)

// Buffer collects the output of a process a test started (its Stdout and
// Stderr) while the test reads it: safe for concurrent use, and it keeps
// at most Max bytes (0: no cap), dropping later writes silently so that a
// chatty process cannot exhaust memory.
type Buffer struct {
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p (or drops it once Max bytes are held); it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Max <= 0 || b.b.Len() < b.Max {
		b.b.Write(p)
	}
	return len(p), nil
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
