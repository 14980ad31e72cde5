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
// reader may stop early (abandon); the writer then stops copying. Full-size
// chunks are recycled once read.
type chunkPipe struct {
	ch    chan []byte
	done  chan struct{}
	sem   *semaphore.Weighted
	chunk []byte // the chunk being read, recycled when done
	cur   []byte // its unread part
	held  int64  // bytes of chunk not yet released
	once  sync.Once
}

// inFlightBytes bounds the bytes a layer's walk may read ahead of its scan
// worker. When the scan is the slower side (archives decompressed inside
// files, such as the .deb files of an apt cache), the walk fills it and
// waits: it is memory held for nothing beyond keeping both cores busy, which
// a few chunks already do.
const (
	chunkMax      = 256 << 10
	inFlightBytes = 8 << 20
)

// chunkPool holds full-size chunks (*[]byte of chunkMax bytes); shorter
// chunks (small files, a file's tail) are allocated to size.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkMax); return &b }}

// newChunk returns a buffer of n bytes (at most chunkMax).
func newChunk(n int64) []byte {
	if n >= chunkMax {
		return (*chunkPool.Get().(*[]byte))[:chunkMax]
	}
	return make([]byte, n)
}

// recycle returns a full-size chunk to the pool.
func recycle(b []byte) {
	if cap(b) == chunkMax {
		b = b[:chunkMax]
		chunkPool.Put(&b)
	}
}

// newChunkPipe makes the pipe of a file of size bytes (negative: unknown):
// its channel holds as many chunks as the file or the in-flight bound can
// fill, plus the sniffed head.
func newChunkPipe(sem *semaphore.Weighted, size int64) *chunkPipe {
	n := int64(inFlightBytes / chunkMax)
	if size >= 0 {
		n = min(n, size/chunkMax+2)
	}
	return &chunkPipe{ch: make(chan []byte, n), done: make(chan struct{}), sem: sem}
}

// send passes b (which the pipe now owns) to the reader; false when the
// reader abandoned the file or ctx ended.
func (p *chunkPipe) send(ctx context.Context, b []byte) bool {
	if err := p.sem.Acquire(ctx, int64(len(b))); err != nil {
		recycle(b)
		return false
	}
	select {
	case p.ch <- b:
		return true
	case <-p.done:
	case <-ctx.Done():
	}
	p.sem.Release(int64(len(b)))
	recycle(b)
	return false
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
		p.chunk, p.cur, p.held = c, c, int64(len(c))
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
	recycle(p.chunk)
	p.chunk, p.cur = nil, nil
}

// abandon is called by the reader when done (at EOF or not): it releases
// everything still queued and unblocks the writer.
func (p *chunkPipe) abandon() {
	p.once.Do(func() { close(p.done) })
	p.release()
	for c := range p.ch {
		p.sem.Release(int64(len(c)))
		recycle(c)
	}
}
