package layer

import (
	"archive/tar"
	"io/fs"
	"path"
	"strings"
	"time"
)

// Type is the kind of a tar entry, with OCI whiteouts decoded.
type Type uint8

// Entry types.
const (
	TypeFile Type = iota + 1
	TypeDir
	TypeSymlink
	TypeHardlink
	TypeChar
	TypeBlock
	TypeFIFO
	// TypeWhiteout is a ".wh.<name>" marker: Path is the hidden path.
	TypeWhiteout
	// TypeOpaque is a ".wh..wh..opq" marker: Path is the directory whose
	// lower-layer contents are hidden.
	TypeOpaque
	TypeOther
)

var typeNames = map[Type]string{
	TypeFile: "file", TypeDir: "dir", TypeSymlink: "symlink", TypeHardlink: "hardlink",
	TypeChar: "char", TypeBlock: "block", TypeFIFO: "fifo", TypeWhiteout: "whiteout",
	TypeOpaque: "opaque", TypeOther: "other",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "unknown"
}

// MarshalText renders the type name in JSON.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Whiteout markers (OCI image-spec layer.md).
const (
	WhiteoutPrefix = ".wh."
	OpaqueMarker   = ".wh..wh..opq"
)

// Entry is one tar entry of a layer.
type Entry struct {
	// Path is cleaned and relative to the root, without a leading "/" or
	// "./" (for example "etc/passwd"). For whiteouts it is the path the
	// marker hides; for opaque markers, the directory.
	Path string
	// Name is the raw tar header name.
	Name     string
	Type     Type
	Size     int64
	Mode     fs.FileMode
	Linkname string
	ModTime  time.Time
	UID, GID int
	// Unsafe explains why the entry cannot be written to disk as is: its
	// name or (hard)link target escapes the root. Empty when safe. Unsafe
	// entries are reported, never applied: an unsafe whiteout or opaque
	// marker ("../.wh.top") hides nothing.
	Unsafe string
	// Sparse is set for a GNU sparse file (old GNU or PAX format): Size is
	// its logical size, holes included, which can be far more than the
	// bytes the layer holds.
	Sparse bool
}

// IsWhiteout reports whether e is a whiteout or opaque marker.
func (e *Entry) IsWhiteout() bool { return e.Type == TypeWhiteout || e.Type == TypeOpaque }

// CleanPath turns a tar name into a root-relative path. escapes is true
// when the raw name climbs out of the root ("../x", "a/../../x").
func CleanPath(name string) (clean string, escapes bool) {
	n := strings.TrimLeft(name, "/")
	c := path.Clean(n)
	if c == "." {
		return "", false
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return strings.TrimLeft(path.Clean("/"+n), "/"), true
	}
	return c, false
}

// EntryOf is the Entry Walk reports for a tar header, for callers that read
// a tar stream themselves (a rewrite that copies it, say).
func EntryOf(h *tar.Header) *Entry { return newEntry(h) }

func newEntry(h *tar.Header) *Entry {
	e := &Entry{Name: h.Name, Size: h.Size, Mode: h.FileInfo().Mode(), Linkname: h.Linkname,
		ModTime: h.ModTime, UID: h.Uid, GID: h.Gid}
	p, esc := CleanPath(h.Name)
	if esc {
		e.Unsafe = "name escapes the root"
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse:
		e.Type = TypeFile
		e.Sparse = isSparse(h)
	case tar.TypeDir:
		e.Type = TypeDir
	case tar.TypeSymlink:
		e.Type = TypeSymlink
	case tar.TypeLink:
		e.Type = TypeHardlink
		if lp, lesc := CleanPath(h.Linkname); lesc {
			e.Unsafe = "hard link target escapes the root"
		} else {
			e.Linkname = lp
		}
	case tar.TypeChar:
		e.Type = TypeChar
	case tar.TypeBlock:
		e.Type = TypeBlock
	case tar.TypeFifo:
		e.Type = TypeFIFO
	default:
		e.Type = TypeOther
	}
	dir, base := path.Split(p)
	switch {
	case base == OpaqueMarker:
		e.Type, p = TypeOpaque, strings.TrimSuffix(dir, "/")
	case strings.HasPrefix(base, WhiteoutPrefix) && len(base) > len(WhiteoutPrefix):
		e.Type, p = TypeWhiteout, dir+base[len(WhiteoutPrefix):]
	}
	e.Path = p
	return e
}

// isSparse reports whether h is a GNU sparse file (archive/tar reads its
// holes back as zeros).
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
