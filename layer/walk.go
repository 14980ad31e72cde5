package layer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// Errors a walk can return besides content.DigestError and content.ErrSizeMismatch.
var (
	// ErrNotTar: the (decompressed) blob is not a tar stream.
	ErrNotTar = errors.New("not a tar stream")
	// ErrTooLarge: the layer decompresses to more than Options.MaxBytes (a
	// decompression bomb, or a limit set too low).
	ErrTooLarge = errors.New("layer exceeds the uncompressed size limit")
	// ErrCorrupt: the compressed stream or the tar structure is broken.
	ErrCorrupt = errors.New("corrupt layer")
)

// Options tune a walk.
type Options struct {
	// MaxBytes caps the uncompressed bytes read (0: no cap). The logical
	// size of sparse files counts too: reading one yields its holes.
	MaxBytes int64
	// What names the layer in errors, e.g. "layer 3"; default "layer".
	What string
	// Progress, if set, is called with the number of compressed bytes read
	// so far, at most every 1 MiB.
	Progress func(n int64)
	// Tee, if set, receives the uncompressed stream as it is read (the tar
	// bytes, end-of-archive padding included), so a caller can keep it
	// without decompressing the blob twice. A write error stops the walk.
	Tee io.Writer
}

// Result is what a walk measured.
type Result struct {
	Compression  image.Compression
	Digest       image.Digest // of the blob as read
	DiffID       image.Digest // of the uncompressed tar
	Size         int64        // blob bytes
	Uncompressed int64
	Entries      int
}

// Func is called once per tar entry. r reads the content of regular files
// (nil for other types); it need not be read to the end.
type Func func(e *Entry, r io.Reader) error

// Sniff returns the compression of a blob from its first bytes.
func Sniff(b []byte) image.Compression {
	switch {
	case len(b) >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8:
		return image.Gzip
	case len(b) >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd:
		return image.Zstd
	}
	return image.Uncompressed
}

const bufSize = 256 << 10

// Walk streams the blob r described by d, calling fn for every tar entry.
// It verifies d.Digest and d.Size (when d.Size >= 0) on the raw bytes and
// diffID (when not empty) on the uncompressed tar, in the same pass. fn may
// return an error to stop the walk; the blob is then not verified.
func Walk(ctx context.Context, r io.Reader, d image.Descriptor, diffID image.Digest, opts Options, fn Func) (Result, error) {
	what := opts.What
	if what == "" {
		what = "layer"
	}
	var res Result
	// The blob is hashed with its digest's own algorithm (sha256 or
	// sha512); any other algorithm cannot be verified and is refused.
	rawHash, err := d.Digest.NewHash()
	if err != nil {
		return res, fmt.Errorf("%s: %w", what, err)
	}
	raw := &countHash{r: r, h: rawHash, progress: opts.Progress}
	diffAlg, diffHash := "sha256", sha256.New()
	if diffID != "" {
		if diffHash, err = diffID.NewHash(); err != nil {
			return res, fmt.Errorf("%s diff_id: %w", what, err)
		}
		diffAlg = diffID.Algorithm()
	}
	br := bufio.NewReaderSize(raw, bufSize)
	magic, _ := br.Peek(4)
	res.Compression = Sniff(magic)

	var dec io.Reader
	var closeDec func()
	switch res.Compression {
	case image.Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return res, verifyRest(fmt.Errorf("%w: %s %s: gzip header: %v", ErrCorrupt, what, d.Digest, err), br, raw, d, what)
		}
		dec, closeDec = zr, func() { zr.Close() }
	case image.Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderLowmem(true))
		if err != nil {
			return res, verifyRest(fmt.Errorf("%w: %s %s: zstd: %v", ErrCorrupt, what, d.Digest, err), br, raw, d, what)
		}
		dec, closeDec = zr, zr.Close
	default:
		dec, closeDec = br, func() {}
	}
	defer closeDec()

	un := &countHash{r: dec, h: diffHash, max: opts.MaxBytes}
	var ur io.Reader = un
	var tee *teeReader
	if opts.Tee != nil {
		tee = &teeReader{r: un, w: opts.Tee}
		ur = tee
	}
	ub := bufio.NewReaderSize(ur, bufSize)
	fail := func(err error) error {
		if tee != nil && tee.err != nil {
			return fmt.Errorf("%s %s: keep the uncompressed stream: %w", what, d.Digest, tee.err)
		}
		return walkErr(err, un, raw, what, d, res.Entries)
	}
	if head, err := ub.Peek(512); (err == nil || err == io.EOF) && len(head) > 0 && !IsTar(head) {
		return res, verifyRest(fmt.Errorf("%w: %s %s: the %s stream does not start with a tar header", ErrNotTar, what, d.Digest, res.Compression), br, raw, d, what)
	}
	tr := tar.NewReader(ub)
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, verifyRest(fail(err), br, raw, d, what)
		}
		res.Entries++
		e := newEntry(h)
		if e.Sparse && e.Size > 0 {
			// A few hundred bytes can declare a file of a petabyte of holes.
			un.extra += e.Size
			if un.max > 0 && un.n+un.extra > un.max {
				return res, walkErr(ErrTooLarge, un, raw, what, d, res.Entries)
			}
		}
		var body io.Reader
		if e.Type == TypeFile {
			body = tr
		}
		if err := fn(e, body); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrTooLarge) || un.err != nil || raw.err != nil {
				return res, fail(err)
			}
			return res, err
		}
	}
	// Drain: tar padding past the end-of-archive marker counts toward the
	// diff_id, and the rest of the blob toward the digest.
	if _, err := io.Copy(io.Discard, ub); err != nil {
		return res, fail(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return res, walkErr(err, un, raw, what, d, res.Entries)
	}
	res.Size, res.Uncompressed = raw.n, un.n
	res.Digest = image.SumDigest(d.Digest.Algorithm(), raw.h.Sum(nil))
	res.DiffID = image.SumDigest(diffAlg, un.h.Sum(nil))
	if d.Size >= 0 && raw.n != d.Size {
		return res, fmt.Errorf("%w: %s %s: read %d bytes, descriptor says %d (truncated or padded blob)", content.ErrSizeMismatch, what, d.Digest, raw.n, d.Size)
	}
	if res.Digest != d.Digest {
		return res, &content.DigestError{Want: d.Digest, Got: res.Digest, What: what + " blob"}
	}
	if diffID != "" && res.DiffID != diffID {
		return res, &content.DigestError{Want: diffID, Got: res.DiffID, What: what + " diff_id"}
	}
	return res, nil
}

// verifyRest runs when the blob fails to decompress or parse as tar. It
// reads the rest of the blob (never more than one byte past its declared
// size) and, when the bytes do not hash to the descriptor's digest, reports
// that instead: a tampered or corrupted blob is a digest mismatch first, and
// the parse error its altered bytes caused is only a consequence. Blobs of
// unknown size and read errors keep the parse error.
func verifyRest(perr error, br *bufio.Reader, raw *countHash, d image.Descriptor, what string) error {
	if d.Size < 0 || raw.err != nil || errors.Is(perr, ErrTooLarge) {
		return perr
	}
	budget := int64(br.Buffered()) + max(0, d.Size+1-raw.n)
	if _, err := io.CopyN(io.Discard, br, budget); err != nil && err != io.EOF || raw.err != nil {
		return perr
	}
	if raw.n != d.Size {
		return fmt.Errorf("%w: %s %s: read %d bytes, descriptor says %d (%v)", content.ErrSizeMismatch, what, d.Digest, raw.n, d.Size, perr)
	}
	if got := image.SumDigest(d.Digest.Algorithm(), raw.h.Sum(nil)); got != d.Digest {
		return fmt.Errorf("%w (so it also fails to parse: %v)", &content.DigestError{Want: d.Digest, Got: got, What: what + " blob"}, perr)
	}
	return perr
}

func walkErr(err error, un, raw *countHash, what string, d image.Descriptor, entries int) error {
	switch {
	case errors.Is(err, ErrTooLarge) || errors.Is(un.err, ErrTooLarge):
		return fmt.Errorf("%w: %s %s decompresses to more than %d bytes (the decompression cap)", ErrTooLarge, what, d.Digest, un.max)
	case raw.err != nil && !errors.Is(raw.err, io.EOF):
		return fmt.Errorf("read %s %s: %w", what, d.Digest, raw.err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s %s ends early after %d compressed bytes (truncated blob): %v", content.ErrSizeMismatch, what, d.Digest, raw.n, err)
	case errors.Is(err, tar.ErrHeader) && entries == 0:
		return fmt.Errorf("%w: %s %s: %v", ErrNotTar, what, d.Digest, err)
	}
	return fmt.Errorf("%w: %s %s after %d entries: %v", ErrCorrupt, what, d.Digest, entries, err)
}

// teeReader writes what it reads to w and remembers a write error.
type teeReader struct {
	r   io.Reader
	w   io.Writer
	err error
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			t.err = werr
			return n, werr
		}
	}
	return n, err
}

// countHash hashes and counts what is read through it and enforces an
// optional cap.
type countHash struct {
	r        io.Reader
	h        hash.Hash
	n, max   int64
	extra    int64 // counted against max besides n: sparse files' logical sizes
	err      error
	progress func(int64)
	lastProg int64
}

func (c *countHash) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.max > 0 && int64(len(p)) > c.max-c.n-c.extra+1 {
		p = p[:max(c.max-c.n-c.extra+1, 1)]
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.h.Write(p[:n])
		c.n += int64(n)
		if c.max > 0 && c.n+c.extra > c.max {
			c.err = ErrTooLarge
			return n, c.err
		}
		if c.progress != nil && c.n-c.lastProg >= 1<<20 {
			c.lastProg = c.n
			c.progress(c.n)
		}
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	if err == io.EOF && c.progress != nil {
		c.progress(c.n)
	}
	return n, err
}

// IsTar reports whether b starts like a tar header (ustar magic or a valid
// old-style checksum), for sniffing unknown media types.
func IsTar(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	if bytes.Equal(b[257:262], []byte("ustar")) {
		return true
	}
	_, err := tar.NewReader(bytes.NewReader(b[:512])).Next()
	return err == nil || err == io.EOF
}
