package provenance

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/stratascan/strata/image"
)

var (
	gzipMagic = []byte{0x1f, 0x8b, 0x08}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress sniffs r's first bytes (gzip 1f 8b 08, zstd 28 b5 2f fd, else
// an uncompressed tar; FIELD-NOTES 1.5: media types can lie) and returns a
// reader of the uncompressed stream and the compression it found. Call
// close when done.
func Decompress(r io.Reader) (_ io.Reader, _ image.Compression, closeFn func(), _ error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, "", nil, fmt.Errorf("read layer header: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", nil, fmt.Errorf("gzip layer: %w", err)
		}
		return zr, image.Gzip, func() { zr.Close() }, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, "", nil, fmt.Errorf("zstd layer: %w", err)
		}
		return zr, image.Zstd, zr.Close, nil
	}
	return br, image.Uncompressed, func() {}, nil
}
