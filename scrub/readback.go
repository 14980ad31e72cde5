package scrub

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
)

// readBack is a rewritten blob decompressed and walked again while it is
// being written, from a copy of the compressed bytes as they go to the
// staging file: the read-back check costs a core while compression runs,
// not a second pass after it. verify compares what it saw with what the
// rewrite meant to write.
type readBack struct {
	entries []*layer.Entry
	// sums holds the CRC-32C of each regular file's content (0 for other
	// entries), aligned with entries.
	sums []uint32
	// diffID and size are of the uncompressed stream the blob decodes to.
	diffID image.Digest
	size   int64
	// compressed counts the blob bytes the read-back saw.
	compressed int64
	err        error
	done       chan struct{}
}

// startReadBack starts decoding c-compressed bytes written to the returned
// writer. The writer must be closed (with the rewrite's error, if any);
// wait then returns the result. A decode failure does not stop the
// writer: the rest is drained and the failure is reported by verify.
func startReadBack(ctx context.Context, c image.Compression) (*chunkPipe, *readBack) {
	pr := &chunkPipe{ch: make(chan []byte, 8)}
	pw := pr
	rb := &readBack{done: make(chan struct{})}
	go func() {
		defer close(rb.done)
		cr := &countWriter{}
		r := io.TeeReader(pr, cr)
		rb.err = rb.run(ctx, bufio.NewReaderSize(r, 256<<10), c)
		// Keep the writer unblocked; its own error, if any, wins.
		_, _ = io.Copy(io.Discard, r)
		rb.compressed = cr.n
	}()
	return pw, rb
}

// wait returns once the read-back has seen the whole blob.
func (rb *readBack) wait() *readBack {
	<-rb.done
	return rb
}

func (rb *readBack) run(ctx context.Context, br *bufio.Reader, c image.Compression) error {
	var dec io.Reader = br
	switch c {
	case image.Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: gzip header: %v", layer.ErrCorrupt, err)
		}
		defer zr.Close()
		dec = zr
	case image.Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return fmt.Errorf("%w: zstd: %v", layer.ErrCorrupt, err)
		}
		defer zr.Close()
		dec = zr
	}
	usum := sha256.New()
	un := &countWriter{}
	ur := bufio.NewReaderSize(io.TeeReader(dec, io.MultiWriter(usum, un)), 256<<10)
	tr := tar.NewReader(ur)
	for {
		h, err := nextHeader(ctx, tr, len(rb.entries))
		if h == nil {
			if err != nil {
				return err
			}
			break
		}
		e := layer.EntryOf(h)
		var sum uint32
		if e.Type == layer.TypeFile {
			crc := crc32.New(castagnoli)
			if _, err := io.Copy(crc, tr); err != nil {
				return fmt.Errorf("%w: /%s: %v", layer.ErrCorrupt, e.Path, err)
			}
			sum = crc.Sum32()
		}
		rb.entries, rb.sums = append(rb.entries, e), append(rb.sums, sum)
	}
	// Tar padding past the end-of-archive marker counts toward the diff_id.
	if _, err := io.Copy(io.Discard, ur); err != nil {
		return fmt.Errorf("%w: %v", layer.ErrCorrupt, err)
	}
	rb.diffID, rb.size = image.FromSum(usum.Sum(nil)), un.n
	return nil
}

// chunkPipe hands the compressed output to the read-back through a few
// buffered chunks, so compression does not wait on every read-back step
// (an io.Pipe would couple the two chunk by chunk). The read-back always
// reads to the end, so the writer never blocks for good.
type chunkPipe struct {
	ch   chan []byte
	cur  []byte
	werr error
}

// Write copies p: the compressor reuses its buffers.
func (p *chunkPipe) Write(b []byte) (int, error) {
	if len(b) > 0 {
		p.ch <- append([]byte(nil), b...)
	}
	return len(b), nil
}

// CloseWithError ends the stream; the reader sees err (io.EOF if nil).
func (p *chunkPipe) CloseWithError(err error) {
	p.werr = err
	close(p.ch)
}

func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		c, ok := <-p.ch
		if !ok {
			if p.werr != nil {
				return 0, p.werr
			}
			return 0, io.EOF
		}
		p.cur = c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// nextHeader returns the next entry's header, nil at the end of the
// archive, or an error naming entry ord.
func nextHeader(ctx context.Context, tr *tar.Reader, ord int) (*tar.Header, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := tr.Next()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: entry %d: %v", layer.ErrCorrupt, ord, err)
	}
	return h, nil
}
