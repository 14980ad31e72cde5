package secret

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/bodgit/sevenzip"
	"github.com/ulikunitz/xz/lzma"
)

// errSevenZipMemory: a 7z coder asks for more memory than strata allows.
var errSevenZipMemory = errors.New("7z coder dictionary larger than the limit")

// The LZMA and LZMA2 coders of github.com/bodgit/sevenzip allocate the
// dictionary the archive declares (up to 4 GiB) before decoding a byte.
// strata registers the same coders with the dictionary capped at maxXzDict,
// and refuses PPMd, whose model size is likewise declared by the archive.
func init() {
	sevenzip.RegisterDecompressor([]byte{0x03, 0x01, 0x01}, sevenzip.Decompressor(newCapped7zLZMA))
	sevenzip.RegisterDecompressor([]byte{0x21}, sevenzip.Decompressor(newCapped7zLZMA2))
	sevenzip.RegisterDecompressor([]byte{0x03, 0x04, 0x01}, sevenzip.Decompressor(
		func([]byte, uint64, []io.ReadCloser) (io.ReadCloser, error) {
			return nil, fmt.Errorf("7z PPMd coder: %w", errSevenZipMemory)
		}))
}

type readCloser struct {
	io.Reader
	io.Closer
}

// newCapped7zLZMA is 7-Zip's LZMA coder (properties: lc/lp/pb byte and a
// little-endian dictionary size), read as an LZMA "alone" stream.
func newCapped7zLZMA(p []byte, size uint64, rs []io.ReadCloser) (io.ReadCloser, error) {
	if len(rs) != 1 || len(p) != 5 {
		return nil, errors.New("7z LZMA coder: bad properties")
	}
	if binary.LittleEndian.Uint32(p[1:]) > maxXzDict {
		return nil, fmt.Errorf("7z LZMA coder: %w", errSevenZipMemory)
	}
	hdr := make([]byte, 13)
	copy(hdr, p)
	binary.LittleEndian.PutUint64(hdr[5:], size)
	lr, err := lzma.NewReader(io.MultiReader(bytes.NewReader(hdr), rs[0]))
	if err != nil {
		return nil, fmt.Errorf("7z LZMA coder: %w", err)
	}
	return readCloser{lr, rs[0]}, nil
}

// newCapped7zLZMA2 is 7-Zip's LZMA2 coder (one property byte: the
// dictionary size as in Lzma2Dec.c).
func newCapped7zLZMA2(p []byte, _ uint64, rs []io.ReadCloser) (io.ReadCloser, error) {
	if len(rs) != 1 || len(p) != 1 || p[0] > 40 {
		return nil, errors.New("7z LZMA2 coder: bad properties")
	}
	dict := int64(2|p[0]&1) << (p[0]/2 + 11)
	if p[0] == 40 {
		dict = 1<<32 - 1
	}
	if dict > maxXzDict {
		return nil, fmt.Errorf("7z LZMA2 coder: %w", errSevenZipMemory)
	}
	c := lzma.Reader2Config{DictCap: int(dict)}
	lr, err := c.NewReader2(rs[0])
	if err != nil {
		return nil, fmt.Errorf("7z LZMA2 coder: %w", err)
	}
	return readCloser{lr, rs[0]}, nil
}

// scan7z scans a 7z archive's files. In a solid archive a file can only be
// reached by decompressing every file before it, so each file's declared
// size is charged to the archive byte budget before it is opened (the
// decoder stops at the declared size).
func (e *Engine) scan7z(ctx context.Context, name string, size int64, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	ra, n, done, err := spool("7z", name, size, r, budget)
	if err != nil {
		return err
	}
	defer done()
	zr, err := sevenzip.NewReader(ra, n)
	if err != nil {
		st.SkipReason = "unreadable 7z: " + err.Error()
		return nil
	}
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() || !zf.Mode().IsRegular() {
			continue
		}
		if int64(zf.UncompressedSize) > *budget || int64(zf.UncompressedSize) < 0 {
			st.SkipReason = fmt.Sprintf("archive byte limit (%d) reached", e.opts.MaxArchiveBytes)
			return nil
		}
		*budget -= int64(zf.UncompressedSize)
		rc, err := zf.Open()
		if err != nil {
			if st.SkipReason == "" {
				st.SkipReason = "unreadable 7z member " + zf.Name + ": " + err.Error()
			}
			continue
		}
		err = e.scanMember(ctx, memberName(name, zf.Name), int64(zf.UncompressedSize), io.LimitReader(rc, int64(zf.UncompressedSize)), emit, depth, budget, st)
		rc.Close()
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			if st.SkipReason == "" {
				st.SkipReason = "corrupt 7z member " + zf.Name + ": " + err.Error()
			}
		}
	}
	return nil
}
