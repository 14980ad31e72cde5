package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// ErrCompressed reports a tarball that is itself compressed: the index needs
// random access, so it must be decompressed first.
var ErrCompressed = errors.New("compressed tarball")

// ErrCorrupt reports a tarball that cannot be indexed (truncated, bad headers).
var ErrCorrupt = errors.New("corrupt tarball")

// maxLinkHops bounds symlink resolution inside an archive.
const maxLinkHops = 40

// member is one indexed tar entry.
type member struct {
	name     string // cleaned, slash-separated, no leading "./" or "/"
	typ      byte
	mode     fs.FileMode
	size     int64 // logical size of regular files
	offset   int64 // offset of the data in the tarball
	linkname string
	modTime  time.Time
	sparse   bool
	synth    bool // directory synthesised from a member's parent path
}

// TarFS is a read-only fs.FS over one uncompressed tarball, indexed in one
// scan: member names map to (offset, size), and opening a member returns an
// io.SectionReader over the tarball. Nothing is unpacked to disk. Symlinks
// and hard links are followed inside the archive only. Member names that are
// absolute or contain ".." are not indexed (see Rejected). For duplicate
// names the last member wins, as on extraction.
//
// TarFS implements fs.FS, fs.StatFS, fs.ReadFileFS and fs.ReadDirFS. It is
// safe for concurrent use.
type TarFS struct {
	ra       io.ReaderAt
	closer   io.Closer
	size     int64
	name     string
	members  map[string]*member
	children map[string][]string
	rejected []string
}

// OpenTar indexes the tarball at path. A gzip- or zstd-compressed file is
// refused with ErrCompressed (decompress it first, e.g. with gunzip); a
// truncated or malformed one with ErrCorrupt. Close the TarFS when done.
func OpenTar(ctx context.Context, path string) (*TarFS, error) {
	if err := checkRegularFile(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory, not a tarball (use the oci: or dir: transport for directories)", path)
	}
	t, err := NewTarFS(ctx, f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	t.closer = f
	return t, nil
}

// checkRegularFile refuses, before opening it, a path that is not a regular
// file: opening a FIFO blocks, a device such as /dev/zero never ends, and a
// tarball is read at random offsets, which neither supports.
func checkRegularFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a tarball (use the oci: or dir: transport for directories)", path)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is a %s, not a regular file; save the tarball to a file first", ErrNotRegularFile, path, st.Mode().Type())
	}
	return nil
}

// ErrNotRegularFile reports a tarball path that is a FIFO, a device or
// another special file.
var ErrNotRegularFile = errors.New("not a regular file")

// NewTarFS indexes a tarball read through ra (size bytes long). name is used
// in error messages. The caller keeps ownership of ra.
func NewTarFS(ctx context.Context, ra io.ReaderAt, size int64, name string) (*TarFS, error) {
	var magic [6]byte
	n, _ := ra.ReadAt(magic[:], 0)
	switch {
	case n >= 3 && bytes.Equal(magic[:3], []byte{0x1f, 0x8b, 0x08}):
		return nil, fmt.Errorf("%w: %s is gzip-compressed; decompress it first (e.g. gunzip -k %s) and pass the .tar", ErrCompressed, name, name)
	case n >= 4 && bytes.Equal(magic[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, fmt.Errorf("%w: %s is zstd-compressed; decompress it first (e.g. zstd -d %s) and pass the .tar", ErrCompressed, name, name)
	case n >= 3 && string(magic[:3]) == "BZh":
		return nil, fmt.Errorf("%w: %s is bzip2-compressed; decompress it first (e.g. bunzip2 -k %s)", ErrCompressed, name, name)
	case n >= 6 && bytes.Equal(magic[:6], []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, fmt.Errorf("%w: %s is xz-compressed; decompress it first (e.g. unxz -k %s)", ErrCompressed, name, name)
	}
	t := &TarFS{ra: ra, size: size, name: name, members: map[string]*member{}, children: map[string][]string{}}
	sr := &scanReader{ra: ra, size: size, buf: make([]byte, 64<<10)}
	tr := tar.NewReader(sr)
	count := 0
	for {
		if count%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		count++
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if count == 1 {
				return nil, fmt.Errorf("%w: %s is not a tar archive: %v", ErrCorrupt, name, err)
			}
			return nil, fmt.Errorf("%w: %s: reading member %d: %v (the file is truncated or damaged; re-create it)", ErrCorrupt, name, count, err)
		}
		off, _ := sr.Seek(0, io.SeekCurrent)
		clean, ok := cleanName(h.Name)
		if !ok {
			t.rejected = append(t.rejected, h.Name)
			continue
		}
		if clean == "." {
			continue
		}
		m := &member{name: clean, typ: h.Typeflag, mode: h.FileInfo().Mode(), size: h.Size, offset: off,
			linkname: h.Linkname, modTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse:
			m.typ = tar.TypeReg
			m.sparse = h.Typeflag == tar.TypeGNUSparse || hasSparsePAX(h)
			if !m.sparse && off+h.Size > size {
				return nil, fmt.Errorf("%w: %s: member %q needs %d bytes at offset %d but the file has %d (truncated)", ErrCorrupt, name, h.Name, h.Size, off, size)
			}
		case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			m.size = 0
		default:
			continue // pax globals, GNU volume headers, ...
		}
		t.add(m)
	}
	for dir := range t.children {
		sort.Strings(t.children[dir])
	}
	return t, nil
}

func hasSparsePAX(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// cleanName turns a member name into an fs.FS path; ok is false for
// absolute names and names with ".." elements.
func cleanName(n string) (string, bool) {
	if strings.HasPrefix(n, "/") {
		return "", false
	}
	for _, el := range strings.Split(n, "/") {
		if el == ".." {
			return "", false
		}
	}
	c := path.Clean(n)
	if c == "." {
		return ".", true
	}
	if !fs.ValidPath(c) {
		return "", false
	}
	return c, true
}

func (t *TarFS) add(m *member) {
	if _, dup := t.members[m.name]; !dup {
		parent := path.Dir(m.name)
		t.children[parent] = append(t.children[parent], path.Base(m.name))
		for dir := parent; dir != "."; dir = path.Dir(dir) {
			if _, ok := t.members[dir]; ok {
				break
			}
			t.members[dir] = &member{name: dir, typ: tar.TypeDir, mode: fs.ModeDir | 0o755, synth: true}
			pp := path.Dir(dir)
			t.children[pp] = append(t.children[pp], path.Base(dir))
		}
	}
	t.members[m.name] = m
}

// Rejected returns member names that were not indexed because they are
// absolute or contain "..".
func (t *TarFS) Rejected() []string { return append([]string(nil), t.rejected...) }

// Name returns the name given when opening.
func (t *TarFS) Name() string { return t.name }

// Close closes the underlying file (when OpenTar opened it).
func (t *TarFS) Close() error {
	if t.closer != nil {
		return t.closer.Close()
	}
	return nil
}

// resolve follows symlinks (and hard links) to a member. With follow false
// the last element's own symlink is not followed (Lstat).
func (t *TarFS) resolve(op, name string, follow bool) (*member, error) {
	budget := maxLinkHops
	return t.resolveBudget(op, name, follow, &budget)
}

// resolveBudget is resolve with a link budget shared by the nested
// resolutions of parent directories, so no archive can make a lookup
// expensive.
func (t *TarFS) resolveBudget(op, name string, follow bool, budget *int) (*member, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &member{name: ".", typ: tar.TypeDir, mode: fs.ModeDir | 0o755, synth: true}, nil
	}
	cur := name
	for ; *budget >= 0; *budget-- {
		m, ok := t.members[cur]
		if !ok {
			// A symlinked parent directory: resolve the parents.
			if p, rest, ok := t.resolveParent(cur, budget); ok && p != cur {
				cur = path.Join(p, rest)
				continue
			}
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		switch m.typ {
		case tar.TypeSymlink:
			if !follow {
				return m, nil // Lstat: the final element itself
			}
			target := m.linkname
			if !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(cur), target)
			}
			c := path.Clean(strings.TrimPrefix(target, "/"))
			if strings.HasPrefix(c, "../") || c == ".." {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("symlink to %q leaves the archive: %w", m.linkname, fs.ErrInvalid)}
			}
			cur = c
		case tar.TypeLink:
			c, ok := cleanName(m.linkname)
			if !ok || c == "." {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("hard link to %q: %w", m.linkname, fs.ErrInvalid)}
			}
			cur = c
		default:
			return m, nil
		}
	}
	return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("too many levels of symbolic links: %w", fs.ErrInvalid)}
}

// resolveParent finds the deepest existing ancestor of p that is a symlink
// and substitutes its target; returns ok false when there is none.
func (t *TarFS) resolveParent(p string, budget *int) (string, string, bool) {
	dir, rest := path.Dir(p), path.Base(p)
	for dir != "." {
		if m, ok := t.members[dir]; ok {
			if m.typ != tar.TypeSymlink {
				return "", "", false
			}
			r, err := t.resolveBudget("open", dir, true, budget)
			if err != nil || r.name == dir {
				return "", "", false
			}
			return r.name, rest, true
		}
		rest = path.Join(path.Base(dir), rest)
		dir = path.Dir(dir)
	}
	return "", "", false
}

// Open opens a member for reading (fs.FS). Regular members are
// io.SectionReaders (io.ReaderAt and io.Seeker too); directories implement
// fs.ReadDirFile.
func (t *TarFS) Open(name string) (fs.File, error) {
	m, err := t.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	switch {
	case m.typ == tar.TypeDir:
		return &dirFile{t: t, m: m, name: name}, nil
	case m.typ != tar.TypeReg:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("not a regular file (tar type %q): %w", m.typ, fs.ErrInvalid)}
	case m.sparse:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("sparse tar members are not supported: %w", fs.ErrInvalid)}
	}
	return &file{SectionReader: io.NewSectionReader(t.ra, m.offset, m.size), m: m, name: name}, nil
}

// Stat returns a member's FileInfo, following symlinks (fs.StatFS).
func (t *TarFS) Stat(name string) (fs.FileInfo, error) {
	m, err := t.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return newInfo(m, name), nil
}

// Lstat is Stat without following a final symlink.
func (t *TarFS) Lstat(name string) (fs.FileInfo, error) {
	m, err := t.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return newInfo(m, name), nil
}

// ReadFile reads a whole member (fs.ReadFileFS).
func (t *TarFS) ReadFile(name string) ([]byte, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rf, ok := f.(*file)
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	b := make([]byte, rf.m.size)
	if _, err := rf.ReadAt(b, 0); err != nil && !(err == io.EOF && len(b) == 0) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// ReadDir lists a directory (fs.ReadDirFS), sorted by name.
func (t *TarFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m, err := t.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if m.typ != tar.TypeDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.entries(m.name), nil
}

func (t *TarFS) entries(dir string) []fs.DirEntry {
	var out []fs.DirEntry
	for _, n := range t.children[dir] {
		if m, ok := t.members[path.Join(dir, n)]; ok {
			if m.typ == tar.TypeLink {
				// A hard link is the same file as its target.
				if r, err := t.resolve("readdir", m.name, true); err == nil {
					m = r
				}
			}
			out = append(out, fs.FileInfoToDirEntry(newInfo(m, n)))
		}
	}
	return out
}

// Members returns the indexed member names, sorted.
func (t *TarFS) Members() []string {
	var out []string
	for n, m := range t.members {
		if !m.synth {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

type file struct {
	*io.SectionReader
	m    *member
	name string
}

func (f *file) Stat() (fs.FileInfo, error) { return newInfo(f.m, f.name), nil }
func (f *file) Close() error               { return nil }

type dirFile struct {
	t    *TarFS
	m    *member
	name string
	ents []fs.DirEntry
	read bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return newInfo(d.m, d.name), nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		d.ents, d.read = d.t.entries(d.m.name), true
	}
	if n <= 0 {
		out := d.ents
		d.ents = nil
		return out, nil
	}
	if len(d.ents) == 0 {
		return nil, io.EOF
	}
	if n > len(d.ents) {
		n = len(d.ents)
	}
	out := d.ents[:n]
	d.ents = d.ents[n:]
	return out, nil
}

// info describes a member; name is the base name it was looked up by
// (which differs from the member's for followed links).
type info struct {
	m    *member
	name string
}

func newInfo(m *member, name string) info {
	if name == "" {
		name = m.name
	}
	if name != "." {
		name = path.Base(name)
	}
	return info{m: m, name: name}
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.m.size }
func (i info) Mode() fs.FileMode  { return i.m.mode }
func (i info) ModTime() time.Time { return i.m.modTime }
func (i info) IsDir() bool        { return i.m.typ == tar.TypeDir }
func (i info) Sys() any           { return nil }

// scanReader is a buffered, seekable reader over an io.ReaderAt for the
// index scan: headers of small members come from one buffered read, and
// seeks past large members skip their data without reading it.
type scanReader struct {
	ra     io.ReaderAt
	size   int64
	buf    []byte
	bufOff int64 // file offset of buf[0]
	r, w   int   // unread bytes are buf[r:w]
}

func (s *scanReader) pos() int64 { return s.bufOff + int64(s.r) }

func (s *scanReader) Read(p []byte) (int, error) {
	if s.r == s.w {
		off := s.pos()
		if off >= s.size {
			return 0, io.EOF
		}
		n, err := s.ra.ReadAt(s.buf, off)
		s.bufOff, s.r, s.w = off, 0, n
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, err
		}
	}
	n := copy(p, s.buf[s.r:s.w])
	s.r += n
	return n, nil
}

func (s *scanReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = s.pos() + offset
	case io.SeekEnd:
		abs = s.size + offset
	default:
		return 0, errors.New("scanReader.Seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("scanReader.Seek: negative position")
	}
	if abs >= s.bufOff && abs <= s.bufOff+int64(s.w) {
		s.r = int(abs - s.bufOff)
	} else {
		s.bufOff, s.r, s.w = abs, 0, 0
	}
	return abs, nil
}
