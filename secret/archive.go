package secret

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/therootcompany/xz"
)

// Memory bounds of the decompressors, independent of the archive byte
// budget: a stream that declares a bigger window is reported as unreadable
// instead of allocating it.
const (
	// maxXzDict is the largest LZMA2 dictionary accepted (xz -9 uses 64 MiB).
	maxXzDict = 64 << 20
	// maxZstdWindow is the largest zstd window accepted (zstd -19 uses
	// 8 MiB, --ultra -22 128 MiB, --long 128 MiB).
	maxZstdWindow = 128 << 20
)

// Decompressors are reused with Reset. gzip readers are small and pooled.
// xz and zstd decoders keep their window (an 8 MiB dictionary for a Debian
// package's data.tar.xz) after Reset, so they are kept in small free lists
// instead: as many as have been in use at once, up to freeListCap, where a
// sync.Pool may keep one per processor besides the one in use.
var (
	gzipPool sync.Pool // *gzip.Reader
	xzFree   = newFreeList[*xz.Reader]()
	zstdFree = newFreeList[*zstd.Decoder]() // concurrency 1: no goroutines
)

// freeListCap is how many idle decoders of a kind are kept: the number of
// layers a scan walks at once by default, each with one scan worker.
const freeListCap = 2

// freeList is a bounded list of idle decoders.
type freeList[T any] chan T

func newFreeList[T any]() freeList[T] { return make(freeList[T], freeListCap) }

// get returns an idle decoder, or ok false when there is none.
func (f freeList[T]) get() (v T, ok bool) {
	select {
	case v = <-f:
		return v, true
	default:
		return v, false
	}
}

// put keeps v for reuse unless the list is full (v is then dropped).
func (f freeList[T]) put(v T) {
	select {
	case f <- v:
	default:
	}
}

// decompressor opens one compressed stream; release returns pooled state.
type decompressor struct {
	r       io.Reader
	name    string // the name stored in the stream (gzip), if any
	release func()
}

// openCompressed opens a gzip, xz, bzip2 or zstd stream (concatenated
// streams are read as one, as their command-line tools do).
func openCompressed(k kind, r io.Reader) (decompressor, error) {
	switch k {
	case kindGzip:
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(r)
		} else {
			err = zr.Reset(r)
		}
		if err != nil {
			return decompressor{}, fmt.Errorf("unreadable gzip: %w", err)
		}
		zr.Multistream(true)
		return decompressor{r: zr, name: zr.Name, release: func() { gzipPool.Put(zr) }}, nil
	case kindXz:
		zr, ok := xzFree.get()
		var err error
		if !ok {
			zr, err = xz.NewReader(r, maxXzDict)
		} else {
			err = zr.Reset(r)
		}
		if err != nil {
			if ok {
				xzFree.put(zr)
			}
			return decompressor{}, fmt.Errorf("unreadable xz: %w", err)
		}
		zr.Multistream(true)
		return decompressor{r: zr, release: func() { xzFree.put(zr) }}, nil
	case kindBzip2:
		return decompressor{r: bzip2.NewReader(r), release: func() {}}, nil
	case kindZstd:
		zr, ok := zstdFree.get()
		var err error
		if !ok {
			zr, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(maxZstdWindow))
		} else {
			err = zr.Reset(r)
		}
		if err != nil {
			if ok {
				_ = zr.Reset(nil)
				zstdFree.put(zr)
			}
			return decompressor{}, fmt.Errorf("unreadable zstd: %w", err)
		}
		return decompressor{r: zr, release: func() { _ = zr.Reset(nil); zstdFree.put(zr) }}, nil
	}
	return decompressor{}, fmt.Errorf("not a compressed stream")
}

// compressedSuffixes maps file name suffixes of compressed files to what the
// decompressed file is called.
var compressedSuffixes = []struct{ suffix, repl string }{
	{".tgz", ".tar"}, {".taz", ".tar"}, {".txz", ".tar"}, {".tbz2", ".tar"}, {".tbz", ".tar"}, {".tzst", ".tar"},
	{".gz", ""}, {".xz", ""}, {".bz2", ""}, {".zst", ""}, {".zstd", ""},
}

// innerName is the name of the file inside compressed file name.
func innerName(name, stored string) string {
	if stored != "" {
		if b := path.Base(stored); b != "." && b != "/" {
			return b
		}
	}
	base := path.Base(name)
	for _, s := range compressedSuffixes {
		if strings.HasSuffix(base, s.suffix) && len(base) > len(s.suffix) {
			return strings.TrimSuffix(base, s.suffix) + s.repl
		}
	}
	if base == "" || base == "." || base == "/" {
		return "-"
	}
	return base
}

// scanArchive opens an archive or compressed stream and scans its members.
// An archive cut short by the byte budget says so, rather than that it
// ended early.
func (e *Engine) scanArchive(ctx context.Context, k kind, name string, size int64, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	err := e.openArchive(ctx, k, name, size, r, emit, depth, budget, st)
	if *budget <= 0 && (st.SkipReason == "" || strings.HasPrefix(st.SkipReason, "corrupt")) {
		st.SkipReason = fmt.Sprintf("archive byte limit (%d) reached", e.opts.MaxArchiveBytes)
	}
	return err
}

func (e *Engine) openArchive(ctx context.Context, k kind, name string, size int64, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	switch k {
	case kindGzip, kindXz, kindBzip2, kindZstd:
		return e.scanCompressed(ctx, k, name, r, emit, depth, budget, st)
	case kindTar:
		return corrupt(e.scanTar(ctx, name, r, emit, depth, budget, st), st)
	case kindZip:
		return e.scanZip(ctx, name, size, r, emit, depth, budget, st)
	case kind7z:
		return e.scan7z(ctx, name, size, r, emit, depth, budget, st)
	case kindDeb:
		return corrupt(e.scanAr(ctx, name, r, emit, depth, budget, st), st)
	case kindRpm:
		return corrupt(e.scanRpm(ctx, name, r, emit, depth, budget, st), st)
	}
	return nil
}

// scanCompressed decompresses one stream. A compressed tar is one archive
// level: its members appear as outer.tar.xz!member; any other content is
// the single member outer.xz!inner.
func (e *Engine) scanCompressed(ctx context.Context, k kind, name string, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	d, err := openCompressed(k, r)
	if err != nil {
		st.Skipped, st.SkipReason = true, err.Error()
		return nil
	}
	defer d.release()
	br := &budgetReader{r: d.r, budget: budget}
	head := make([]byte, 512)
	n, rerr := io.ReadFull(br, head)
	head = head[:n]
	if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
		st.SkipReason = "corrupt compressed stream: " + rerr.Error()
		return nil
	}
	body := io.MultiReader(bytes.NewReader(head), br)
	if ik, _ := sniff(head); ik == kindTar {
		err = e.scanTar(ctx, name, body, emit, depth, budget, st)
	} else {
		err = e.scanMember(ctx, name+"!"+innerName(name, d.name), -1, body, emit, depth, budget, st)
	}
	return corrupt(err, st)
}

// errCorrupt marks a broken archive: reported in stats, not as an error.
type errCorrupt struct{ err error }

func (e errCorrupt) Error() string { return e.err.Error() }

func corrupt(err error, st *FileStats) error {
	var c errCorrupt
	if errors.As(err, &c) {
		if st.SkipReason == "" {
			st.SkipReason = "corrupt archive: " + c.err.Error()
		}
		return nil
	}
	return err
}

func mergeStats(st, ms *FileStats) {
	st.Bytes += ms.Bytes
	st.ArchiveMembers += ms.ArchiveMembers
	if ms.TimedOut {
		st.TimedOut = true
	}
	// binary members are normal; limits, nesting and corruption are worth reporting
	if ms.SkipReason != "" && st.SkipReason == "" && !strings.HasPrefix(ms.SkipReason, "binary") {
		st.SkipReason = ms.SkipReason
	}
}

// memberName is outer!member with the member path cleaned of leading
// slashes, "./" and "..".
func memberName(outer, member string) string {
	return outer + "!" + strings.TrimPrefix(path.Clean("/"+member), "/")
}

// scanMember scans one member of an archive; a member that cannot be read
// to its end is a corrupt archive unless ctx is done.
func (e *Engine) scanMember(ctx context.Context, member string, size int64, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	st.ArchiveMembers++
	var ms FileStats
	err := e.scanFile(ctx, member, size, r, emit, depth+1, budget, &ms)
	mergeStats(st, &ms)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return errCorrupt{err}
	}
	return nil
}

func (e *Engine) scanTar(ctx context.Context, name string, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	tr := tar.NewReader(&budgetReader{r: r, budget: budget})
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errCorrupt{fmt.Errorf("tar %s: %w", name, err)}
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := e.scanMember(ctx, memberName(name, hdr.Name), hdr.Size, tr, emit, depth, budget, st); err != nil {
			return err
		}
	}
}

// zipMemLimit is the largest zip or 7z archive held in memory; bigger ones
// are spooled to a temporary file (bounded by the archive byte budget). Up
// to two can be open per scan worker (an archive inside an archive), so
// this stays small: wheels and jars of tens of MB are common.
const zipMemLimit = 4 << 20

// spool makes r randomly readable: in memory when size is known and small,
// else in a temporary file of at most *budget bytes.
func spool(what, name string, size int64, r io.Reader, budget *int64) (io.ReaderAt, int64, func(), error) {
	if size >= 0 && size <= zipMemLimit {
		b := make([]byte, size)
		n, err := io.ReadFull(r, b)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, 0, nil, fmt.Errorf("read %s %s: %w", what, name, err)
		}
		return bytes.NewReader(b[:n]), int64(n), func() {}, nil
	}
	f, err := os.CreateTemp("", "strata-"+what+"-*")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spool %s %s: %w", what, name, err)
	}
	done := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(f, io.LimitReader(r, *budget))
	if err != nil {
		done()
		return nil, 0, nil, fmt.Errorf("spool %s %s: %w", what, name, err)
	}
	return f, n, done, nil
}

func (e *Engine) scanZip(ctx context.Context, name string, size int64, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	ra, n, done, err := spool("zip", name, size, r, budget)
	if err != nil {
		return err
	}
	defer done()
	zr, err := zip.NewReader(ra, n)
	if err != nil {
		st.SkipReason = "unreadable zip: " + err.Error()
		return nil
	}
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !zf.Mode().IsRegular() {
			continue
		}
		if *budget <= 0 {
			st.SkipReason = fmt.Sprintf("archive byte limit (%d) reached", e.opts.MaxArchiveBytes)
			return nil
		}
		rc, err := zf.Open()
		if err != nil {
			if st.SkipReason == "" {
				st.SkipReason = "unreadable zip member " + zf.Name + ": " + err.Error()
			}
			continue
		}
		err = e.scanMember(ctx, memberName(name, zf.Name), int64(zf.UncompressedSize64), &budgetReader{r: rc, budget: budget}, emit, depth, budget, st)
		rc.Close()
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			if st.SkipReason == "" {
				st.SkipReason = "corrupt zip member " + zf.Name + ": " + err.Error()
			}
		}
	}
	return nil
}
