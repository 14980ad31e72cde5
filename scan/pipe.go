package scan

import (
	"context"
	"io"
	"sync"

	"golang.org/x/sync/semaphore"
)

// chunkPipe hands one file's content from the layer walk (decompressing and
// hashing on one core) to the scan worker (on the other), in copied chunks.
// A semaphore shared by a layer's pipes bounds the bytes in flight. The
// reader may stop early (abandon); the writer then stops copying.
type chunkPipe struct {
	ch   chan []byte
	done chan struct{}
	sem  *semaphore.Weighted
	cur  []byte
	held int64 // bytes of cur not yet released
	once sync.Once
}

const (
	chunkMax      = 256 << 10
	inFlightBytes = 32 << 20
)

func newChunkPipe(sem *semaphore.Weighted) *chunkPipe {
	return &chunkPipe{ch: make(chan []byte, 64), done: make(chan struct{}), sem: sem}
}

// send passes b (which the pipe now owns) to the reader; false when the
// reader abandoned the file or ctx ended.
func (p *chunkPipe) send(ctx context.Context, b []byte) bool {
	if err := p.sem.Acquire(ctx, int64(len(b))); err != nil {
		return false
	}
	select {
	case p.ch <- b:
		return true
	case <-p.done:
		p.sem.Release(int64(len(b)))
		return false
	case <-ctx.Done():
		p.sem.Release(int64(len(b)))
		return false
	}
}

// closeWrite ends the stream.
func (p *chunkPipe) closeWrite() { close(p.ch) }

// Read implements io.Reader for the scan worker.
func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		p.release()
		c, ok := <-p.ch
		if !ok {
			return 0, io.EOF
		}
		p.cur, p.held = c, int64(len(c))
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

func (p *chunkPipe) release() {
	if p.held > 0 {
		p.sem.Release(p.held)
		p.held = 0
	}
	p.cur = nil
}

// abandon is called by the reader when done (at EOF or not): it releases
// everything still queued and unblocks the writer.
func (p *chunkPipe) abandon() {
	p.once.Do(func() { close(p.done) })
	p.release()
	for c := range p.ch {
		p.sem.Release(int64(len(c)))
	}
}
