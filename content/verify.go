package content

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/stratascan/strata/image"
)

// Verifier hashes what passes through it and checks the digest and size once
// the stream ends. Use it on every blob read so a truncated or tampered blob
// is an error, never a silent pass. It never reads more than the declared
// size plus one byte from the underlying reader, so a source that streams
// without end costs one byte past the descriptor, not the disk or the clock.
type Verifier struct {
	r    io.Reader
	d    image.Descriptor
	what string
	h    hash.Hash
	n    int64
	err  error
}

// Verify wraps r so that reading to EOF checks d's digest and size. A digest
// whose algorithm cannot be verified (anything but sha256 and sha512) fails
// the first Read with an error wrapping image.ErrUnsupportedAlgorithm: such
// content is never passed on as image content.
func Verify(r io.Reader, d image.Descriptor, what string) *Verifier {
	v := &Verifier{r: r, d: d, what: what}
	h, err := d.Digest.NewHash()
	if err != nil {
		v.err = fmt.Errorf("%s %s: %w", what, d.Digest, err)
	}
	v.h = h
	return v
}

func (v *Verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.d.Size >= 0 && int64(len(p)) > v.d.Size-v.n+1 {
		p = p[:v.d.Size-v.n+1] // at most one byte past the declared size
	}
	n, err := v.r.Read(p)
	if n > 0 {
		v.n += int64(n)
		v.h.Write(p[:n])
		if v.d.Size >= 0 && v.n > v.d.Size {
			v.err = fmt.Errorf("%w: %s %s: more than the %d bytes its descriptor declares", ErrSizeMismatch, v.what, v.d.Digest, v.d.Size)
			return n, v.err
		}
	}
	switch {
	case err == io.EOF:
		v.err = v.check()
	case err != nil:
		v.err = err
		if errors.Is(err, io.ErrUnexpectedEOF) {
			v.err = fmt.Errorf("%w: %s %s: stream ended after %d bytes: %v", ErrSizeMismatch, v.what, v.d.Digest, v.n, err)
		}
	}
	return n, v.err
}

// check runs at EOF: size first, then digest.
func (v *Verifier) check() error {
	if v.d.Size >= 0 && v.n != v.d.Size {
		return fmt.Errorf("%w: %s %s: got %d of %d bytes (truncated)", ErrSizeMismatch, v.what, v.d.Digest, v.n, v.d.Size)
	}
	if got := image.SumDigest(v.d.Digest.Algorithm(), v.h.Sum(nil)); got != v.d.Digest {
		return &DigestError{Want: v.d.Digest, Got: got, What: v.what}
	}
	return io.EOF
}

// N returns how many bytes have passed.
func (v *Verifier) N() int64 { return v.n }

// ReadAll fetches d from s with a size cap and verifies it.
func ReadAll(ctx context.Context, s Store, d image.Descriptor, what string, limit int64) ([]byte, error) {
	if err := d.Digest.Verifiable(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if d.Data != nil && int64(len(d.Data)) == d.Size && d.Digest.Matches(d.Data) {
		return d.Data, nil
	}
	if d.Size > limit {
		return nil, fmt.Errorf("%w: %s %s is %d bytes, over the %d byte limit", ErrTooLarge, what, d.Digest, d.Size, limit)
	}
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", what, d.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(Verify(rc, d, what), limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s %s exceeds %d bytes", ErrTooLarge, what, d.Digest, limit)
	}
	return b, nil
}

// Bound wraps a stream a source opened for d: it reads at most d.Size+1
// bytes from rc (a source that keeps sending fails with ErrSizeMismatch as
// soon as it passes the declared size) and checks ctx before every read, so
// a cancelled command stops reading at once even from a source that never
// blocks (a file that is really /dev/zero). A negative d.Size (unknown, as
// for schema 1 layers) bounds nothing but still honours ctx. Sources apply it
// in Open; callers still verify the digest (Verify, layer.Walk).
func Bound(ctx context.Context, rc io.ReadCloser, d image.Descriptor) io.ReadCloser {
	return &bounded{ctx: ctx, rc: rc, d: d}
}

type bounded struct {
	ctx context.Context //nolint:containedctx // lives as long as one Open stream
	rc  io.ReadCloser
	d   image.Descriptor
	n   int64
	err error
}

func (b *bounded) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.d.Size >= 0 && int64(len(p)) > b.d.Size-b.n+1 {
		p = p[:b.d.Size-b.n+1]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.d.Size >= 0 && b.n > b.d.Size {
		b.err = fmt.Errorf("%w: %s: the source sends more than the %d bytes its descriptor declares", ErrSizeMismatch, b.d.Digest, b.d.Size)
		return n, b.err
	}
	return n, err
}

func (b *bounded) Close() error { return b.rc.Close() }
