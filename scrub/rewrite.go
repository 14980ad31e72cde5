package scrub

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/secret"
)

// want is what a rewritten layer must hold at one position: the original
// entry (headers as walked) and the sha256 of the content written for it.
type want struct {
	entry *layer.Entry
	// sum is the CRC-32C of the content written (regular files only). It
	// compares the bytes the rewrite wrote with the bytes read back from
	// the staged blob, to catch a rewrite or compression fault; tampering
	// is what the blobs' sha256 digests are for.
	sum uint32
	// archive: the file is an archive rewritten without some members.
	archive bool
}

// castagnoli is the CRC-32C table (hardware-accelerated on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rewritten is one staged layer blob.
type rewritten struct {
	desc         image.Descriptor
	diffID       image.Digest
	file         string
	uncompressed int64
	compression  image.Compression
	level        int
	wants        []want
	members      []MemberRemoval
	// changed are paths whose entry changed on purpose: hard links turned
	// into files or pointed at another name, archives rewritten.
	changed []string
	// fingerprints of the secrets the engine finds in removed files.
	fingerprints map[string]bool
	// old are the original layer's entries with their full headers, as
	// the rewrite read them.
	old []*layer.Entry
	// fromSpool: the rewrite read the listing walk's uncompressed copy.
	fromSpool bool
	// back is the staged blob as decoded again while it was written.
	back *readBack
}

// rewriter streams one layer blob into a new blob without the edited
// entries.
type rewriter struct {
	eng     *secret.Engine
	entries []*layer.Entry
	edit    *layerEdit
	dir     string
	maxArch int64
	heirs   map[int]bool   // removed ordinals whose content a link takes
	spooled map[int]string // removed ordinal -> spool file
	names   map[int]string // link turned into a file -> its raw tar name
	out     *rewritten
}

// gzipLevel guesses the level a gzip stream was written at from its XFL
// header byte (RFC 1952: 2 = maximum compression, 4 = fastest).
func gzipLevel(head []byte) int {
	if len(head) > 8 {
		switch head[8] {
		case 2:
			return 9
		case 4:
			return 1
		}
	}
	return 6
}

// rewriteLayer writes a new blob for l under dir. It reads the
// uncompressed copy the listing walk kept (be.spool), else the blob
// (verified against its digest; the listing may come from the scan cache).
func rewriteLayer(ctx context.Context, s content.Store, l image.Layer, be *blobEntries, edit *layerEdit, dir string, maxArchive int64, eng *secret.Engine) (*rewritten, error) {
	rw := &rewriter{eng: eng, entries: be.entries, edit: edit, dir: dir, maxArch: maxArchive, heirs: map[int]bool{}, spooled: map[int]string{},
		names: map[int]string{}, out: &rewritten{fingerprints: map[string]bool{}, old: make([]*layer.Entry, 0, len(be.entries))}}
	for _, t := range edit.relink {
		rw.heirs[t] = true
	}
	in, err := rw.open(ctx, s, l, be)
	if err != nil {
		return nil, err
	}
	defer in.close()
	f, err := os.CreateTemp(dir, "layer-*")
	if err != nil {
		return nil, fmt.Errorf("stage layer: %w", err)
	}
	rw.out.file = f.Name()
	defer f.Close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var zsum hash.Hash = sha256.New()
	var zn countWriter
	bw, back := startReadBack(ctx, rw.out.compression)
	go func() {
		err := rw.compress(pr, io.MultiWriter(f, zsum, &zn, bw))
		// Unblock the tar writer if compression failed (disk full, say).
		pr.CloseWithError(err)
		done <- err
	}()
	usum := sha256.New()
	var un countWriter
	err = rw.copyTar(ctx, in.tar, io.MultiWriter(pw, usum, &un))
	if err == nil {
		err = in.drain()
	}
	pw.CloseWithError(err)
	if cerr := <-done; err == nil {
		err = cerr
	}
	bw.CloseWithError(err)
	rw.out.back = back.wait()
	for _, p := range rw.spooled {
		os.Remove(p)
	}
	if err != nil {
		os.Remove(rw.out.file)
		return nil, fmt.Errorf("rewrite layer %d (%s): %w", l.Index, l.Descriptor.Digest, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("stage layer: %w", err)
	}
	d := l.Descriptor
	d.Digest, d.Size = image.FromSum(zsum.Sum(nil)), zn.n
	d.Data = nil
	rw.out.desc = d
	rw.out.diffID = image.FromSum(usum.Sum(nil))
	rw.out.uncompressed = un.n
	final := filepath.Join(dir, d.Digest.Hex())
	if err := os.Rename(rw.out.file, final); err != nil {
		return nil, fmt.Errorf("stage layer: %w", err)
	}
	rw.out.file = final
	return rw.out, nil
}

// input is the original tar stream of a layer being rewritten.
type input struct {
	tar   io.Reader
	drain func() error // reads the rest, so the blob's digest check fires
	close func()
}

// open returns the layer's tar stream: the listing walk's spooled copy
// (already verified), or the blob, verified and decompressed here.
func (rw *rewriter) open(ctx context.Context, s content.Store, l image.Layer, be *blobEntries) (*input, error) {
	if be.spool != "" {
		f, err := os.Open(be.spool)
		if err != nil {
			return nil, fmt.Errorf("layer %s: open the spooled copy: %w", l.Descriptor.Digest, err)
		}
		rw.out.compression, rw.out.fromSpool = be.res.Compression, true
		if rw.out.compression == image.Gzip {
			rw.out.level = gzipLevel(be.head)
		}
		br := bufio.NewReaderSize(f, 256<<10)
		return &input{tar: br, drain: func() error { return nil }, close: func() { f.Close() }}, nil
	}
	rc, err := s.Open(ctx, l.Descriptor)
	if err != nil {
		return nil, fmt.Errorf("open layer %s: %w", l.Descriptor.Digest, err)
	}
	br := bufio.NewReaderSize(content.Verify(rc, l.Descriptor, "layer"), 256<<10)
	head, _ := br.Peek(10)
	rw.out.compression = layer.Sniff(head)
	in := &input{tar: br, close: func() { rc.Close() }}
	switch rw.out.compression {
	case image.Gzip:
		rw.out.level = gzipLevel(head)
		zr, err := pgzip.NewReaderN(br, 1<<20, 4)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("layer %s: gzip: %w", l.Descriptor.Digest, err)
		}
		in.tar, in.close = zr, func() { zr.Close(); rc.Close() }
	case image.Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("layer %s: zstd: %w", l.Descriptor.Digest, err)
		}
		in.tar, in.close = zr, func() { zr.Close(); rc.Close() }
	}
	tr := in.tar
	in.drain = func() error {
		// The rest of the stream and of the blob, so the digest check fires.
		if _, err := io.Copy(io.Discard, struct{ io.Reader }{tr}); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, br)
		return err
	}
	return in, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// compress writes r to w compressed as the original was.
func (rw *rewriter) compress(r io.Reader, w io.Writer) error {
	var zw io.WriteCloser
	switch rw.out.compression {
	case image.Gzip:
		g, err := pgzip.NewWriterLevel(w, rw.out.level)
		if err != nil {
			return err
		}
		if err := g.SetConcurrency(1<<20, 2); err != nil {
			return err
		}
		zw = g
	case image.Zstd:
		z, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(2))
		if err != nil {
			return err
		}
		zw = z
	default:
		_, err := io.Copy(w, r)
		return err
	}
	if _, err := io.Copy(zw, r); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

// copyTar copies the tar stream from src to w, applying the edit.
func (rw *rewriter) copyTar(ctx context.Context, src io.Reader, w io.Writer) error {
	tr := tar.NewReader(src)
	tw := tar.NewWriter(w)
	for ord := 0; ; ord++ {
		h, err := nextHeader(ctx, tr, ord)
		if h == nil {
			if err != nil {
				return err
			}
			break
		}
		e := layer.EntryOf(h)
		if ord >= len(rw.entries) || rw.entries[ord].Path != e.Path || rw.entries[ord].Type != e.Type {
			return fmt.Errorf("%w: entry %d (/%s) differs from the layer's listing", content.ErrDigestMismatch, ord, e.Path)
		}
		rw.out.old = append(rw.out.old, e)
		if err := rw.entry(ctx, ord, e, h, tr, tw); err != nil {
			return err
		}
	}
	if len(rw.out.old) != len(rw.entries) {
		return fmt.Errorf("%w: %d entries read, the layer's listing has %d", content.ErrDigestMismatch, len(rw.out.old), len(rw.entries))
	}
	return tw.Close()
}

func (rw *rewriter) entry(ctx context.Context, ord int, e *layer.Entry, h *tar.Header, tr *tar.Reader, tw *tar.Writer) error {
	if e.Sparse {
		if _, touched := rw.edit.drop[ord]; !touched {
			// Go's archive/tar reads GNU and PAX sparse entries but cannot
			// write them (golang/go#13548); writing the holes out as zeros
			// would change the entry.
			return fmt.Errorf("%w: /%s is a sparse file in a layer that must be rewritten, and sparse tar entries cannot be written back as they were; remove that file too, or rebuild the layer", ErrUnsupported, e.Path)
		}
	}
	if _, gone := rw.edit.drop[ord]; gone {
		var body io.Reader = tr
		if rw.heirs[ord] {
			p, err := rw.spool(tr, -1)
			if err != nil {
				return err
			}
			rw.spooled[ord] = p
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			body = f
		}
		return rw.fingerprint(ctx, e, h, body)
	}
	if t, ok := rw.edit.relink[ord]; ok {
		h.Typeflag, h.Linkname = tar.TypeReg, ""
		x := *e
		x.Type, x.Linkname, x.Mode = layer.TypeFile, "", h.FileInfo().Mode()
		rw.out.changed = append(rw.out.changed, e.Path)
		rw.names[ord] = h.Name
		return rw.writeFile(tw, h, rw.spooled[t], &x, false)
	}
	if heir, ok := rw.edit.repoint[ord]; ok {
		name := rw.names[heir]
		h.Linkname = name
		x := *e
		x.Linkname, _ = layer.CleanPath(name)
		e = &x
		rw.out.changed = append(rw.out.changed, e.Path)
	}
	if ms, ok := rw.edit.members[ord]; ok {
		return rw.rewriteArchive(tr, tw, h, e, ms)
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write header of /%s: %w", e.Path, err)
	}
	wt := want{entry: e}
	if h.Typeflag == tar.TypeReg {
		sum := crc32.New(castagnoli)
		if _, err := io.Copy(io.MultiWriter(tw, sum), tr); err != nil {
			return fmt.Errorf("copy /%s: %w", e.Path, err)
		}
		wt.sum = sum.Sum32()
	}
	rw.out.wants = append(rw.out.wants, wt)
	return nil
}

// spool copies r (at most limit bytes when limit >= 0) to a temporary
// file under the staging directory.
func (rw *rewriter) spool(r io.Reader, limit int64) (string, error) {
	f, err := os.CreateTemp(rw.dir, "spool-*")
	if err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	n, err := io.Copy(f, r)
	if err == nil && limit >= 0 && n > limit {
		err = fmt.Errorf("%w: archive larger than %d bytes", ErrUnsupported, limit)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}

// writeFile writes h with the content of file p.
func (rw *rewriter) writeFile(tw *tar.Writer, h *tar.Header, p string, e *layer.Entry, archive bool) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write header of /%s: %w", e.Path, err)
	}
	sum := crc32.New(castagnoli)
	if _, err := io.Copy(io.MultiWriter(tw, sum), f); err != nil {
		return fmt.Errorf("write /%s: %w", e.Path, err)
	}
	x := *e
	x.Size = h.Size
	rw.out.wants = append(rw.out.wants, want{entry: &x, sum: sum.Sum32(), archive: archive})
	return nil
}

// rewriteArchive replaces an archive file with a copy without members.
func (rw *rewriter) rewriteArchive(tr *tar.Reader, tw *tar.Writer, h *tar.Header, e *layer.Entry, members []string) error {
	in, err := rw.spool(tr, rw.maxArch)
	if err != nil {
		return fmt.Errorf("/%s: %w", e.Path, err)
	}
	defer os.Remove(in)
	out := in + ".new"
	removed, err := dropMembers(in, out, members, rw.maxArch)
	if err != nil {
		return fmt.Errorf("/%s: %w", e.Path, err)
	}
	defer os.Remove(out)
	if len(removed) == 0 {
		return fmt.Errorf("%w: /%s holds none of the members %s", ErrBadSelector, e.Path, strings.Join(members, ", "))
	}
	rw.out.members = append(rw.out.members, MemberRemoval{Archive: "/" + e.Path, Members: removed})
	rw.out.changed = append(rw.out.changed, e.Path)
	return rw.writeFile(tw, h, out, e, true)
}

var errNotArchive = errors.New("not an archive scrub can rewrite (zip, jar, war, tar, tar.gz)")

// fingerprint records the secrets the engine finds in a removed file, for
// the rescan of the result.
func (rw *rewriter) fingerprint(ctx context.Context, e *layer.Entry, h *tar.Header, body io.Reader) error {
	if rw.eng == nil || h.Typeflag != tar.TypeReg {
		return nil
	}
	_, err := rw.eng.ScanFile(ctx, e.Path, h.Size, body, func(m secret.Match) {
		if m.Fingerprint != "" {
			rw.out.fingerprints[m.Fingerprint] = true
		}
	})
	return err
}
