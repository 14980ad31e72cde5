package scan

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"
)

// pipeFile sends body through p as the layer walk does (the head, then
// chunks of at most chunkMax from newChunk), counting the chunks handed
// over; it stops when the reader abandons.
func pipeFile(ctx context.Context, p *chunkPipe, body []byte, sent *atomic.Int64) {
	defer p.closeWrite()
	for len(body) > 0 {
		b := newChunk(min(int64(len(body)), chunkMax))
		n := copy(b, body)
		if !p.send(ctx, b[:n]) {
			return
		}
		sent.Add(1)
		body = body[n:]
	}
}

// TestChunkPipe: the reader gets the file's bytes exactly, whatever the
// chunking; the walk never holds more than inFlightBytes ahead of a reader
// that does not read; abandoning a file part-read releases every byte.
func TestChunkPipe(t *testing.T) {
	ctx := context.Background()
	body := make([]byte, 3*chunkMax+12345)
	rand.New(rand.NewSource(1)).Read(body)
	sem := semaphore.NewWeighted(inFlightBytes)
	var sent atomic.Int64

	p := newChunkPipe(sem, int64(len(body)))
	go pipeFile(ctx, p, body, &sent)
	got, err := io.ReadAll(p)
	p.abandon()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes (err %v), want the %d sent", len(got), err, len(body))
	}
	if !sem.TryAcquire(inFlightBytes) {
		t.Fatal("bytes still held after the file was read")
	}
	sem.Release(inFlightBytes)

	// A reader that stalls: the writer stops at the bound.
	big := make([]byte, 3*inFlightBytes)
	p = newChunkPipe(sem, -1)
	sent.Store(0)
	done := make(chan struct{})
	go func() { pipeFile(ctx, p, big, &sent); close(done) }()
	time.Sleep(200 * time.Millisecond)
	if n := sent.Load(); n > inFlightBytes/chunkMax {
		t.Errorf("writer sent %d chunks ahead of the reader, bound %d", n, inFlightBytes/chunkMax)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(p, buf); err != nil || !bytes.Equal(buf, big[:1000]) {
		t.Fatalf("first bytes: %v", err)
	}
	p.abandon()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writer still blocked after the reader abandoned the file")
	}
	if !sem.TryAcquire(inFlightBytes) {
		t.Fatal("bytes still held after the file was abandoned")
	}
}
