package layout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// Limits on the JSON files a store reads whole.
const (
	maxIndexBytes    = 8 << 20  // index.json, manifest.json, dir: manifests
	maxConfigBytes   = 32 << 20 // image configs read to learn diff_ids
	maxManifestBytes = 8 << 20
)

// ErrNotLayout reports a file tree that is not the kind of image store asked for.
var ErrNotLayout = errors.New("not an image layout")

// ErrNotRegular reports a blob that is not a regular file of the layout: a
// symbolic link (which could point anywhere on the host, /dev/zero or a
// private file), a device, a FIFO or a directory.
var ErrNotRegular = errors.New("blob is not a regular file")

// Option configures a Store.
type Option func(*Store)

// WithCloser makes Close also close c (the tarball under an fs.FS).
func WithCloser(c io.Closer) Option { return func(s *Store) { s.closer = c } }

// WithLogger sets a logger for warnings (nil = discard).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// onDisk marks a store over a host directory (see Store.onDisk).
func onDisk(s *Store) { s.onDisk = true }

// WithName sets what Name reports, overriding the name found in the source.
func WithName(name string) Option { return func(s *Store) { s.name = name } }

// Store is a content.Store over an fs.FS holding an OCI image layout, a
// `docker save` tarball's tree or a skopeo dir: copy.
type Store struct {
	fsys   fs.FS
	kind   string // "oci", "docker-archive", "dir"
	ref    string
	name   string
	log    *slog.Logger
	closer io.Closer
	opts   []Option
	// onDisk: fsys is a directory of the host, whose blobs must be regular
	// files, never symbolic links (a tarball's links resolve inside it).
	onDisk bool

	// root, or a function computing it on first use.
	rootMu   sync.Mutex
	rootDone bool
	rootFn   func(ctx context.Context) (image.Descriptor, error)
	root     image.Descriptor
	rootErr  error

	mu sync.Mutex
	// synth holds bytes the store made up (index.json as an index,
	// docker-archive manifests), by digest.
	synth map[image.Digest][]byte
	// paths maps digests to member paths that are not at the layout's
	// default place (docker-archive configs and layer.tar files).
	paths map[image.Digest]string
	// blobPath is the default place of a digest's blob ("" = none).
	blobPath func(d image.Descriptor) []string

	tags func() []string
}

func newStore(fsys fs.FS, kind, ref string, opts []Option) *Store {
	s := &Store{fsys: fsys, kind: kind, ref: ref, log: slog.New(slog.DiscardHandler), opts: opts,
		synth: map[image.Digest][]byte{}, paths: map[image.Digest]string{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Root returns the descriptor the reference resolved to.
// A legacy docker-archive computes it on the first call (hashing
// compressed layer files once); a cancelled context is not remembered.
func (s *Store) Root(ctx context.Context) (image.Descriptor, error) {
	s.rootMu.Lock()
	defer s.rootMu.Unlock()
	if !s.rootDone {
		if s.rootFn == nil {
			return image.Descriptor{}, errors.New("layout: store not opened through OCI, DockerSave or Dir")
		}
		d, err := s.rootFn(ctx)
		if err != nil && ctx.Err() != nil {
			return image.Descriptor{}, err
		}
		s.root, s.rootErr, s.rootDone = d, err, true
	}
	return s.root, s.rootErr
}

// Open returns the bytes of a manifest or blob, never more than its
// declared size plus one byte (content.Bound), stopping when ctx is done. A
// digest the source does not hold is an error wrapping content.ErrNotFound;
// one whose algorithm cannot be verified wraps image.ErrUnsupportedAlgorithm;
// a blob that is a symbolic link or not a regular file, ErrNotRegular.
func (s *Store) Open(ctx context.Context, d image.Descriptor) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := image.ParseDigest(string(d.Digest)); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", s.kind, content.ErrNotFound, err)
	}
	if err := d.Digest.Verifiable(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.kind, err)
	}
	if _, err := s.Root(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	b, ok := s.synth[d.Digest]
	p, hasPath := s.paths[d.Digest]
	s.mu.Unlock()
	if ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	var cands []string
	if hasPath {
		cands = append(cands, p)
	}
	if s.blobPath != nil {
		cands = append(cands, s.blobPath(d)...)
	}
	var firstErr error
	for _, c := range cands {
		if !fs.ValidPath(c) {
			continue
		}
		f, err := s.openBlob(c)
		if err == nil {
			return content.Bound(ctx, f, d), nil
		}
		if errors.Is(err, ErrNotRegular) {
			return nil, fmt.Errorf("%s: blob %s: %w", s.kind, d.Digest, err)
		}
		if !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, fmt.Errorf("%s: open %s: %w", s.kind, d.Digest, firstErr)
	}
	return nil, fmt.Errorf("%s: blob %s: %w in this %s (it names the blob but does not hold it)", s.kind, d.Digest, content.ErrNotFound, s.kind)
}

// openBlob opens the file at name if it is a regular file. A directory is
// reported as not existing (the next candidate path is tried); a symbolic
// link of a host directory, a device or a FIFO as ErrNotRegular.
func (s *Store) openBlob(name string) (fs.File, error) {
	// Checked before opening: opening a FIFO blocks, a link may point
	// anywhere on the host.
	if s.onDisk {
		if st, err := fs.Lstat(s.fsys, name); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: %s is a symbolic link; a layout holds its blobs as files", ErrNotRegular, name)
		}
	}
	if err := checkRegular(s.fsys, name); err != nil {
		return nil, err
	}
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, err
	case st.IsDir():
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !st.Mode().IsRegular():
		f.Close()
		return nil, fmt.Errorf("%w: %s is a %s", ErrNotRegular, name, st.Mode().Type())
	}
	return f, nil
}

// Close closes the underlying tarball, if any.
func (s *Store) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// Name returns a human reference for the selected image: the name given with
// WithName, else the one the source records (io.containerd.image.name,
// RepoTags, org.opencontainers.image.ref.name), else "".
func (s *Store) Name() string { return s.name }

func (s *Store) setFoundName(n string) {
	if s.name == "" {
		s.name = n
	}
}

// Tags lists the reference names the source holds (ref.name annotations or
// RepoTags).
func (s *Store) Tags(ctx context.Context) ([]string, error) {
	if s.tags == nil {
		return nil, nil
	}
	return s.tags(), nil
}

// readFileLimit reads a whole file from fsys, refusing more than limit bytes.
func readFileLimit(fsys fs.FS, name string, limit int64) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if err := checkRegular(fsys, name); err != nil {
		return nil, err
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	} else if err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is a %s", ErrNotRegular, name, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is over %d bytes", content.ErrTooLarge, name, limit)
	}
	return b, nil
}

// checkRegular refuses, without opening it, a file that exists but is
// neither a regular file nor a directory (a FIFO would block the open, a
// device such as /dev/zero would never end).
func checkRegular(fsys fs.FS, name string) error {
	st, err := fs.Stat(fsys, name)
	if err == nil && !st.IsDir() && !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is a %s", ErrNotRegular, name, st.Mode().Type())
	}
	return nil
}

// memberPath validates a path named by untrusted JSON (manifest.json):
// relative, no "..", inside the root.
func memberPath(p string) (string, error) {
	c := strings.TrimPrefix(p, "./")
	if c == "" || strings.HasPrefix(c, "/") || !fs.ValidPath(c) {
		return "", fmt.Errorf("%w: path %q leaves the archive or is not a clean relative path", image.ErrMalformed, p)
	}
	return path.Clean(c), nil
}

// parseIndexRef parses "@N".
func parseIndexRef(ref string) (int, bool) {
	if !strings.HasPrefix(ref, "@") {
		return 0, false
	}
	n, err := strconv.Atoi(ref[1:])
	if err != nil || n < 0 {
		return -1, true
	}
	return n, true
}

// NormalizeName expands a Docker reference the way Docker names images:
// "busybox" -> "docker.io/library/busybox:latest", "me/app:1" ->
// "docker.io/me/app:1". Digest references keep their digest. Other strings
// are returned as they are.
func NormalizeName(s string) string {
	if s == "" {
		return s
	}
	name, suffix := s, ""
	if i := strings.Index(s, "@"); i > 0 {
		name, suffix = s[:i], s[i:]
	} else if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		name, suffix = s[:i], s[i:]
	} else {
		suffix = ":latest"
	}
	first, _, hasSlash := strings.Cut(name, "/")
	switch {
	case !hasSlash:
		name = "docker.io/library/" + name
	case first == "index.docker.io":
		name = "docker.io/" + strings.TrimPrefix(name, "index.docker.io/")
		if !strings.Contains(strings.TrimPrefix(name, "docker.io/"), "/") {
			name = "docker.io/library/" + strings.TrimPrefix(name, "docker.io/")
		}
	case first == "docker.io":
		if !strings.Contains(strings.TrimPrefix(name, "docker.io/"), "/") {
			name = "docker.io/library/" + strings.TrimPrefix(name, "docker.io/")
		}
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	return name + suffix
}

// fileExists reports whether name is a regular file in fsys.
func fileExists(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && !st.IsDir()
}

// OpenOCIDir opens the OCI image layout in directory dir, selecting ref
// (see OCI).
func OpenOCIDir(ctx context.Context, dir, ref string, opts ...Option) (content.Store, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	return OCI(ctx, os.DirFS(dir), ref, append(opts, onDisk)...)
}

// OpenDir opens the skopeo dir: copy in directory dir (see Dir).
func OpenDir(ctx context.Context, dir string, opts ...Option) (content.Store, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	return Dir(ctx, os.DirFS(dir), append(opts, onDisk)...)
}

func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is a file, not a directory (for tarballs use docker-archive: or oci-archive:)", ErrNotLayout, dir)
	}
	return nil
}
