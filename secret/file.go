package secret

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

const sniffLen = 8 << 10

var (
	headPool = sync.Pool{New: func() any { b := make([]byte, sniffLen); return &b }}
)

type kind int

const (
	kindText kind = iota
	kindBinary
	kindGzip
	kindZip
	kindTar
	kindXz
	kindBzip2
	kindZstd
	kind7z
	kindDeb // an ar archive whose first member is debian-binary
	kindRpm
	kindUTF16LE
	kindUTF16BE
)

// opens reports whether k is an archive or compressed stream that scanFile
// opens (within the depth limit).
func (k kind) opens() bool {
	switch k {
	case kindGzip, kindZip, kindTar, kindXz, kindBzip2, kindZstd, kind7z, kindDeb, kindRpm:
		return true
	}
	return false
}

// sniff classifies content by its first bytes.
func sniff(head []byte) (kind, string) {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return kindGzip, "gzip"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return kindZip, "zip"
	case len(head) >= 262 && (bytes.Equal(head[257:262], []byte("ustar"))):
		return kindTar, "tar"
	case bytes.HasPrefix(head, []byte("\xfd7zXZ\x00")):
		return kindXz, "xz"
	case isBzip2(head):
		return kindBzip2, "bzip2"
	case bytes.HasPrefix(head, []byte("\x28\xb5\x2f\xfd")):
		return kindZstd, "zstd"
	case bytes.HasPrefix(head, []byte("7z\xbc\xaf\x27\x1c")):
		return kind7z, "7z"
	case bytes.HasPrefix(head, []byte("!<arch>\ndebian-binary")):
		return kindDeb, "deb"
	case bytes.HasPrefix(head, []byte("\xed\xab\xee\xdb")):
		return kindRpm, "rpm"
	case bytes.HasPrefix(head, []byte("\xff\xfe")) && !bytes.HasPrefix(head, []byte("\xff\xfe\x00\x00")):
		return kindUTF16LE, "utf-16le"
	case bytes.HasPrefix(head, []byte("\xfe\xff")):
		return kindUTF16BE, "utf-16be"
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
		if k := sniffUTF16(head); k != kindText {
			return k, "utf-16"
		}
		return kindBinary, "NUL byte"
	}
	return kindText, ""
}

// isBzip2 checks the stream header "BZh" + level digit and the first
// block's (or the empty stream's end-of-stream) magic, so that text
// starting with "BZh" is not taken for bzip2.
func isBzip2(head []byte) bool {
	if len(head) < 10 || string(head[:3]) != "BZh" || head[3] < '1' || head[3] > '9' {
		return false
	}
	m := string(head[4:10])
	return m == "\x31\x41\x59\x26\x53\x59" || m == "\x17\x72\x45\x38\x50\x90"
}

// sniffUTF16 recognises UTF-16 text without a byte-order mark: in the first
// 512 bytes every other byte is NUL and the rest printable ASCII or line
// breaks (Windows tools write such files).
func sniffUTF16(head []byte) kind {
	n := min(len(head), 512) &^ 1
	if n < 16 {
		return kindText
	}
	text := func(b byte) bool { return b >= 0x20 && b < 0x7f || b == '\n' || b == '\r' || b == '\t' }
	le, be := true, true
	for i := 0; i < n && (le || be); i += 2 {
		le = le && text(head[i]) && head[i+1] == 0
		be = be && head[i] == 0 && text(head[i+1])
	}
	switch {
	case le:
		return kindUTF16LE
	case be:
		return kindUTF16BE
	}
	return kindText
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
	{"!<arch>\n", "ar"}, {"SQLite format 3\x00", "SQLite"},
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
	if k.opens() {
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
	if k == kindUTF16LE || k == kindUTF16BE {
		return e.scanUTF16(ctx, k, name, rest, emit, st)
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
