package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"

	"github.com/stratascan/strata/content"
)

// OpenTarDecompressed is OpenTar that also takes gzip- or zstd-compressed
// tarballs (`docker save | gzip`): those are decompressed once, streaming,
// into a temporary file in tmpDir ("" = os.TempDir()) that Close removes.
// At most limit uncompressed bytes are written (limit <= 0: DefaultDecompressLimit
// of the compressed size); more is content.ErrTooLarge, so a gzip bomb
// cannot fill the disk.
func OpenTarDecompressed(ctx context.Context, path, tmpDir string, limit int64) (*TarFS, error) {
	t, err := OpenTar(ctx, path)
	if err == nil || !errors.Is(err, ErrCompressed) {
		return t, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultDecompressLimit(st.Size())
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(4)
	var zr io.Reader
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		g, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		zr = g
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		defer z.Close()
		zr = z
	default:
		return nil, fmt.Errorf("%w: %s: only gzip and zstd are decompressed automatically; decompress it first", ErrCompressed, path)
	}
	tmp, err := os.CreateTemp(tmpDir, "strata-tar-*")
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", path, err)
	}
	fail := func(err error) (*TarFS, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	n, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: io.LimitReader(zr, limit+1)})
	if err != nil {
		return fail(fmt.Errorf("%w: decompress %s: %v", ErrCorrupt, path, err))
	}
	if n > limit {
		return fail(fmt.Errorf("%w: %s decompresses to more than %d bytes; decompress it yourself if that is expected", content.ErrTooLarge, path, limit))
	}
	t, err = NewTarFS(ctx, tmp, n, path)
	if err != nil {
		return fail(err)
	}
	t.closer = removeOnClose{tmp}
	return t, nil
}

// DefaultDecompressLimit is the uncompressed size allowed for a compressed
// tarball of the given size: 64 times it, and at least 1 GiB. Image
// tarballs compress 2-5x; a gzip bomb reaches 1000x.
func DefaultDecompressLimit(compressed int64) int64 {
	return max(64*compressed, 1<<30)
}

type removeOnClose struct{ f *os.File }

func (r removeOnClose) Close() error {
	err := r.f.Close()
	if rerr := os.Remove(r.f.Name()); err == nil {
		err = rerr
	}
	return err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
