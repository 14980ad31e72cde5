package secret

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

const sniffLen = 8 << 10

var (
	headPool = sync.Pool{New: func() any { b := make([]byte, sniffLen); return &b }}
	gzipPool sync.Pool // *gzip.Reader, reused with Reset
)

type kind int

const (
	kindText kind = iota
	kindBinary
	kindGzip
	kindZip
	kindTar
)

// sniff classifies content by its first bytes.
func sniff(head []byte) (kind, string) {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return kindGzip, "gzip"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return kindZip, "zip"
	case len(head) >= 262 && (bytes.Equal(head[257:262], []byte("ustar"))):
		return kindTar, "tar"
	}
	for _, m := range binaryMagic {
		if bytes.HasPrefix(head, []byte(m.magic)) {
			return kindBinary, m.name
		}
	}
	if len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP" {
		return kindBinary, "webp"
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return kindBinary, "NUL byte"
	}
	return kindText, ""
}

var binaryMagic = []struct{ magic, name string }{
	{"\x7fELF", "ELF"},
	{"MZ", "PE"},
	{"\xfe\xed\xfa\xce", "Mach-O"}, {"\xfe\xed\xfa\xcf", "Mach-O"},
	{"\xce\xfa\xed\xfe", "Mach-O"}, {"\xcf\xfa\xed\xfe", "Mach-O"},
	{"\xca\xfe\xba\xbe", "Mach-O/Java class"},
	{"\x89PNG\r\n\x1a\n", "PNG"}, {"\xff\xd8\xff", "JPEG"}, {"GIF87a", "GIF"}, {"GIF89a", "GIF"},
	{"\x00\x00\x01\x00", "ICO"}, {"II*\x00", "TIFF"}, {"MM\x00*", "TIFF"},
	{"%PDF-", "PDF"}, {"\x00asm", "wasm"},
	{"\xfd7zXZ\x00", "xz"}, {"BZh", "bzip2"}, {"\x28\xb5\x2f\xfd", "zstd"}, {"7z\xbc\xaf\x27\x1c", "7z"},
	{"!<arch>\n", "ar"}, {"\xed\xab\xee\xdb", "rpm"}, {"SQLite format 3\x00", "SQLite"},
}

// limitReader counts bytes and stops at n.
type budgetReader struct {
	r      io.Reader
	budget *int64
	hit    bool
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if *b.budget <= 0 {
		b.hit = true
		return 0, io.EOF
	}
	if int64(len(p)) > *b.budget {
		p = p[:*b.budget]
	}
	n, err := b.r.Read(p)
	*b.budget -= int64(n)
	return n, err
}

// scanFile scans one file or archive member at nesting depth.
func (e *Engine) scanFile(ctx context.Context, name string, size int64, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Path-only rules: fingerprint the content, so read it all through a hash.
	var pathHits []int32
	for _, ri := range e.pathOnly {
		rl := e.rules[ri]
		if (rl.pathNeed == nil || containsAnyFold(name, rl.pathNeed)) && rl.path.MatchString(name) && !pathAllowed(rl, name) {
			pathHits = append(pathHits, ri)
		}
	}
	var h hash.Hash
	if len(pathHits) > 0 {
		h = sha256.New()
		r = io.TeeReader(r, h)
	}
	defer func() {
		if h == nil {
			return
		}
		// hash the rest for the fingerprint, within the size cap
		_, _ = io.Copy(io.Discard, io.LimitReader(r, e.opts.MaxFileBytes))
		fp := "sha256:" + hex.EncodeToString(h.Sum(nil))
		for _, ri := range pathHits {
			rl := e.rules[ri]
			m := Match{RuleID: rl.ID, Description: rl.Description, Severity: rl.Severity, Path: name,
				Redacted: "file detected: " + name, Fingerprint: fp}
			annotate(&m, rl)
			if !e.ignore.ignored(&m) && emit != nil {
				emit(m)
			}
		}
	}()

	hb := headPool.Get().(*[]byte)
	defer headPool.Put(hb)
	head := (*hb)[:sniffLen]
	n, err := io.ReadFull(r, head)
	head = head[:n]
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("read %s: %w", name, err)
	}
	k, what := sniff(head)
	rest := io.MultiReader(bytes.NewReader(head), r)
	if k == kindGzip || k == kindZip || k == kindTar {
		if depth >= e.opts.MaxArchiveDepth {
			st.Binary = true
			st.Skipped = true
			st.SkipReason = fmt.Sprintf("%s archive nested deeper than %d", what, e.opts.MaxArchiveDepth)
			return nil
		}
		st.Binary = true
		return e.scanArchive(ctx, k, name, size, rest, emit, depth, budget, st)
	}
	if k == kindBinary {
		st.Binary = true
		if !e.opts.ScanBinaries {
			st.Skipped = true
			st.SkipReason = "binary (" + what + ")"
			return nil
		}
	}
	return e.scanStream(ctx, name, size, rest, emit, st)
}

// pathAllowed reports whether a path-only rule's allowlists (or its source's
// global ones) exclude path.
func pathAllowed(r *rule, p string) bool {
	for _, a := range r.global {
		if pathSkips(a, p) {
			return true
		}
	}
	for _, a := range r.allow {
		if pathSkips(a, p) {
			return true
		}
	}
	return false
}

// scanStream scans text content in chunks with overlap.
func (e *Engine) scanStream(ctx context.Context, name string, size int64, r io.Reader, emit func(Match), st *FileStats) error {
	fs := e.getFileScan()
	defer func() { fs.finish(); e.pool.Put(fs) }()
	fs.begin(ctx, name, emit, true)
	lr := &io.LimitedReader{R: r, N: e.opts.MaxFileBytes}
	buf := fs.buf[:0]
	scanFrom := 0
	eof := false
	for {
		for !eof && len(buf) < cap(buf) {
			n, err := lr.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			st.Bytes += int64(n)
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
		}
		limit := len(buf)
		if !eof {
			limit = len(buf) - keepAfter
		}
		fs.scanBuffer(buf, scanFrom, limit)
		if fs.err != nil {
			return fs.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if eof {
			break
		}
		keep := limit - keepBefore
		fs.lineAt(fs.base + int64(keep))
		copy(buf, buf[keep:])
		buf = buf[:len(buf)-keep]
		fs.base += int64(keep)
		scanFrom = limit - keep
	}
	fs.buf = buf[:0]
	if lr.N == 0 {
		truncated := size > e.opts.MaxFileBytes
		if size < 0 {
			var one [1]byte
			n, _ := io.ReadFull(r, one[:])
			truncated = n > 0
		}
		if truncated {
			st.SkipReason = fmt.Sprintf("only the first %d bytes scanned (per-file limit)", e.opts.MaxFileBytes)
		}
	}
	return nil
}

// scanArchive opens a gzip, zip or tar stream and scans its members.
func (e *Engine) scanArchive(ctx context.Context, k kind, name string, size int64, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	switch k {
	case kindGzip:
		br := &budgetReader{r: r, budget: budget}
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(r)
		} else {
			err = zr.Reset(r)
		}
		if err != nil {
			st.Skipped, st.SkipReason = true, "unreadable gzip: "+err.Error()
			return nil
		}
		defer gzipPool.Put(zr)
		zr.Multistream(true)
		br.r = zr
		inner := strings.TrimSuffix(path.Base(name), ".gz")
		if zr.Name != "" {
			inner = path.Base(zr.Name)
		}
		if strings.HasSuffix(name, ".tgz") && zr.Name == "" {
			inner = strings.TrimSuffix(path.Base(name), ".tgz") + ".tar"
		}
		if inner == "" || inner == "." || inner == "/" {
			inner = "-"
		}
		// A gzipped tar is one archive level: members appear as outer.tar.gz!member.
		head := make([]byte, 512)
		n, rerr := io.ReadFull(br, head)
		head = head[:n]
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			st.SkipReason = "corrupt gzip: " + rerr.Error()
			return nil
		}
		body := io.MultiReader(bytes.NewReader(head), br)
		if ik, _ := sniff(head); ik == kindTar {
			err = e.scanTar(ctx, name, body, emit, depth, budget, st)
		} else {
			st.ArchiveMembers++
			var ms FileStats
			err = e.scanFile(ctx, name+"!"+inner, -1, body, emit, depth+1, budget, &ms)
			mergeStats(st, &ms)
		}
		if br.hit && st.SkipReason == "" {
			st.SkipReason = fmt.Sprintf("archive byte limit (%d) reached", e.opts.MaxArchiveBytes)
		}
		return corrupt(err, st)
	case kindTar:
		return corrupt(e.scanTar(ctx, name, r, emit, depth, budget, st), st)
	case kindZip:
		return e.scanZip(ctx, name, size, r, emit, depth, budget, st)
	}
	return nil
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
		st.ArchiveMembers++
		var ms FileStats
		member := name + "!" + strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if err := e.scanFile(ctx, member, hdr.Size, tr, emit, depth+1, budget, &ms); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return errCorrupt{err}
		}
		mergeStats(st, &ms)
	}
}

// zipMemLimit is the largest zip held in memory; bigger ones are spooled to
// a temporary file (bounded by the archive byte budget).
const zipMemLimit = 64 << 20

func (e *Engine) scanZip(ctx context.Context, name string, size int64, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	var ra io.ReaderAt
	var n int64
	if size >= 0 && size <= zipMemLimit {
		b, err := io.ReadAll(io.LimitReader(r, zipMemLimit+1))
		if err != nil {
			return fmt.Errorf("read zip %s: %w", name, err)
		}
		ra, n = bytes.NewReader(b), int64(len(b))
	} else {
		f, err := os.CreateTemp("", "strata-zip-*")
		if err != nil {
			return fmt.Errorf("spool zip %s: %w", name, err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		n, err = io.Copy(f, io.LimitReader(r, *budget))
		if err != nil {
			return fmt.Errorf("spool zip %s: %w", name, err)
		}
		ra = f
	}
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
		st.ArchiveMembers++
		var ms FileStats
		member := name + "!" + strings.TrimPrefix(path.Clean("/"+zf.Name), "/")
		err = e.scanFile(ctx, member, int64(zf.UncompressedSize64), &budgetReader{r: rc, budget: budget}, emit, depth+1, budget, &ms)
		rc.Close()
		mergeStats(st, &ms)
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
