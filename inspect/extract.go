package inspect

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
)

// ExtractOptions select what Extract writes.
type ExtractOptions struct {
	// Layer is the one layer to write; < 0 writes the final filesystem.
	Layer int
	// Prefix limits extraction to a path and what is below it.
	Prefix string
	// MaxBytes caps the total bytes written, sparse files counted at their
	// logical size (0: no cap).
	MaxBytes int64
}

// Refusal is an entry Extract would not write.
type Refusal struct {
	Layer  int    `json:"layer"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// ExtractStats reports what Extract wrote and refused.
type ExtractStats struct {
	Files, Dirs, Links int
	Bytes              int64
	Refused            []Refusal
	// resolved counts path components looked up from the extraction root
	// (tests check that extraction stays linear in the entries).
	resolved int
}

// Extract writes files of im under dir, never outside it: entries whose
// names escape the root are refused (whiteouts among them are not applied),
// every write goes through an os.Root (so symlinks in the image cannot
// redirect a write outside dir), device nodes and FIFOs are refused, set-id
// bits are dropped, sparse files are written with holes, and the total bytes
// written are capped.
//
// What is written follows the rules ls and cat use (package overlay): for
// each path, the entry that wins (the last one of its layer; for the final
// filesystem, of the highest layer that has it present). A hard link holds
// the bytes of the last file at its target earlier in its own layer, even
// when that file is not written itself (a later layer deleted it).
func Extract(ctx context.Context, s content.Store, im *image.Image, dir string, xo ExtractOptions, opts Options) (*ExtractStats, error) {
	if xo.Layer >= len(im.Layers) {
		return nil, fmt.Errorf("layer %d out of range: the image has %d layers (0-%d)", xo.Layer, len(im.Layers), len(im.Layers)-1)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create extraction directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open extraction directory: %w", err)
	}
	defer root.Close()
	xo.Prefix, _ = layer.CleanPath(xo.Prefix)
	st := &ExtractStats{}
	var rnd [8]byte
	rand.Read(rnd[:])
	x := &extractor{root: root, st: st, max: xo.MaxBytes, stageDir: ".strata-extract-" + hex.EncodeToString(rnd[:])}
	pl, err := planExtract(ctx, s, im, xo, opts, x)
	if err != nil {
		return nil, err
	}
	defer x.close()
	for _, i := range pl.order {
		lp := pl.layers[i]
		ord := -1
		_, err := WalkLayer(ctx, s, im, i, opts, func(e *layer.Entry, r io.Reader) error {
			ord++
			if lp.stage[ord] {
				if err := x.stage(i, ord, e, r); err != nil {
					return err
				}
			}
			if !lp.write[ord] {
				return nil
			}
			return x.write(i, e, r, lp.links[ord])
		})
		if err != nil {
			return st, err
		}
	}
	return st, x.cleanup()
}

// layerPlan says what Extract does with the entries of one layer, by
// position.
type layerPlan struct {
	write map[int]bool   // written at their own path
	stage map[int]bool   // files a written hard link holds but that are not written themselves
	links map[int]string // written hard link -> the path (from the root) of the file it holds
}

type extractPlan struct {
	order  []int // layers to walk, base first
	layers map[int]*layerPlan
}

// planExtract lists the entries to write: it walks the layers once without
// reading content (all of them for the final filesystem, the one layer
// otherwise) and records refusals of unsafe entries, which are never applied.
func planExtract(ctx context.Context, s content.Store, im *image.Image, xo ExtractOptions, opts Options, x *extractor) (*extractPlan, error) {
	var l *overlay.Listing
	var final []overlay.FinalEntry
	if xo.Layer < 0 {
		a, err := Analyze(ctx, s, im, opts)
		if err != nil {
			return nil, err
		}
		l = a.Listing
		final = l.Final()
	} else {
		entries, _, err := collect(ctx, s, im, []int{xo.Layer}, opts)
		if err != nil {
			return nil, err
		}
		// States within the one layer: duplicates resolved, nothing above.
		one := overlay.NewListing([][]*layer.Entry{entries[xo.Layer]})
		l = &overlay.Listing{Layers: entries, States: make([][]overlay.Result, len(entries))}
		l.States[xo.Layer] = one.States[0]
		for j, e := range entries[xo.Layer] {
			if !e.IsWhiteout() && e.Path != "" && e.Unsafe == "" && one.States[0][j].State == overlay.Present {
				final = append(final, overlay.FinalEntry{Layer: xo.Layer, Entry: e, Index: j})
			}
		}
	}
	pl := &extractPlan{layers: map[int]*layerPlan{}}
	for _, fe := range final {
		if underPrefix(fe.Entry.Path, xo.Prefix) {
			pl.layer(fe.Layer).write[fe.Index] = true
		}
	}
	for i, es := range l.Layers {
		for _, e := range es {
			if e.Unsafe != "" && underPrefix(e.Path, xo.Prefix) {
				reason := e.Unsafe
				if e.IsWhiteout() {
					reason = e.Type.String() + " marker " + e.Unsafe + "; not applied"
				}
				x.st.Refused = append(x.st.Refused, Refusal{Layer: i, Path: e.Path, Reason: reason})
			}
		}
	}
	for i, lp := range pl.layers {
		lp.resolveLinks(l.Layers[i], func(j int) string { return x.stageName(i, j) })
		pl.order = append(pl.order, i)
	}
	sort.Ints(pl.order)
	return pl, nil
}

func (pl *extractPlan) layer(i int) *layerPlan {
	lp := pl.layers[i]
	if lp == nil {
		lp = &layerPlan{write: map[int]bool{}, stage: map[int]bool{}, links: map[int]string{}}
		pl.layers[i] = lp
	}
	return lp
}

// resolveLinks finds the file each written hard link holds, as tar
// extraction would (the last file at its target before it, links followed),
// and stages those files that are not written at their own path (under the
// name staged gives them). A link to a path the layer holds no file at links
// to what is on disk there.
func (lp *layerPlan) resolveLinks(es []*layer.Entry, staged func(int) string) {
	files := map[string]int{}
	for j, e := range es {
		if e.Unsafe != "" || e.IsWhiteout() {
			continue
		}
		switch e.Type {
		case layer.TypeFile:
			files[e.Path] = j
			continue
		case layer.TypeHardlink:
		default:
			delete(files, e.Path)
			continue
		}
		b, ok := files[e.Linkname]
		if !ok {
			delete(files, e.Path)
			lp.links[j] = e.Linkname
			continue
		}
		files[e.Path] = b
		if !lp.write[j] {
			continue
		}
		lp.links[j] = es[b].Path
		if !lp.write[b] {
			lp.stage[b] = true
			lp.links[j] = staged(b)
		}
	}
}

// extractor writes entries under an os.Root. It keeps the directory of the
// last entry written open: tar order puts an entry next to or just below
// the previous one, so most entries are created with one lookup instead of
// one per component of their path (5,000 nested directories would
// otherwise cost 12.5 million lookups).
type extractor struct {
	root     *os.Root
	st       *ExtractStats
	max      int64
	dirPath  string
	dir      *os.Root // open at dirPath; nil when none
	stageDir string   // holds staged hard link targets
	staging  bool     // stageDir exists
	buf      []byte
}

func (x *extractor) close() {
	if x.dir != nil {
		x.dir.Close()
		x.dir = nil
	}
}

// parent returns the directory d (clean; "" is the root) open, making it
// and its parents as needed.
func (x *extractor) parent(d string) (*os.Root, error) {
	if d == "" {
		return x.root, nil
	}
	if x.dir != nil {
		if x.dirPath == d {
			return x.dir, nil
		}
		if rest, ok := strings.CutPrefix(d, x.dirPath+"/"); ok && !strings.Contains(rest, "/") {
			x.st.resolved++
			if err := x.dir.Mkdir(rest, 0o755); err == nil || errors.Is(err, fs.ErrExist) {
				// A failure here (a symlink leaving this directory) is
				// retried from the root, which allows what stays inside it.
				if sub, err := x.dir.OpenRoot(rest); err == nil {
					x.setDir(d, sub)
					return sub, nil
				}
			}
		}
	}
	x.st.resolved += strings.Count(d, "/") + 1
	if err := x.root.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	sub, err := x.root.OpenRoot(d)
	if err != nil {
		return nil, err
	}
	x.setDir(d, sub)
	return sub, nil
}

func (x *extractor) setDir(d string, r *os.Root) {
	x.close()
	x.dirPath, x.dir = d, r
}

// forget drops the open directory when p, which is about to be replaced,
// is it or one of its ancestors.
func (x *extractor) forget(p string) {
	if x.dir != nil && (x.dirPath == p || strings.HasPrefix(x.dirPath, p+"/")) {
		x.close()
	}
}

func splitPath(p string) (dir, base string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

func (x *extractor) stageName(i, ord int) string {
	return fmt.Sprintf("%s/%d-%d", x.stageDir, i, ord)
}

// stage writes the file e (position ord of layer i), which a hard link
// holds but which is not written at its own path, to a staging directory
// in the root; cleanup removes it once the links are made.
func (x *extractor) stage(i, ord int, e *layer.Entry, r io.Reader) error {
	if e.Type != layer.TypeFile || r == nil {
		return nil
	}
	if !x.staging {
		if err := x.root.Mkdir(x.stageDir, 0o700); err != nil {
			return fmt.Errorf("create a staging directory for hard link targets: %w", err)
		}
		x.staging = true
	}
	f, err := x.root.OpenFile(x.stageName(i, ord), os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.Mode.Perm()|0o600)
	if err != nil {
		return fmt.Errorf("stage hard link target %s: %w", e.Path, err)
	}
	return x.fill(f, i, e, r)
}

func (x *extractor) cleanup() error {
	if !x.staging {
		return nil
	}
	if err := x.root.RemoveAll(x.stageDir); err != nil {
		return fmt.Errorf("remove the staging directory %s: %w", x.stageDir, err)
	}
	return nil
}

// write writes one entry; linkTo is a hard link's target path.
func (x *extractor) write(i int, e *layer.Entry, r io.Reader, linkTo string) error {
	refuse := func(reason string) error {
		x.st.Refused = append(x.st.Refused, Refusal{Layer: i, Path: e.Path, Reason: reason})
		return nil
	}
	if e.Unsafe != "" {
		return refuse(e.Unsafe)
	}
	dir, base := splitPath(e.Path)
	pr, err := x.parent(dir)
	if err != nil {
		return refuse("parent directory: " + escapeReason(err))
	}
	perm := e.Mode.Perm() // set-id and sticky bits dropped
	switch e.Type {
	case layer.TypeDir:
		if err := pr.Mkdir(base, perm|0o700); err != nil {
			if fi, serr := pr.Stat(base); !errors.Is(err, fs.ErrExist) || serr != nil || !fi.IsDir() {
				return refuse(escapeReason(err))
			}
		}
		x.st.Dirs++
	case layer.TypeFile:
		x.forget(e.Path)
		_ = pr.Remove(base) // replace, never write through an existing link
		f, err := pr.OpenFile(base, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o600)
		if err != nil {
			return refuse(escapeReason(err))
		}
		if err := x.fill(f, i, e, r); err != nil {
			return err
		}
		x.st.Files++
	case layer.TypeSymlink:
		x.forget(e.Path)
		_ = pr.Remove(base)
		if err := pr.Symlink(e.Linkname, base); err != nil {
			return refuse(escapeReason(err))
		}
		x.st.Links++
	case layer.TypeHardlink:
		x.forget(e.Path)
		_ = pr.Remove(base)
		if err := x.root.Link(linkTo, e.Path); err != nil {
			return refuse("hard link: " + escapeReason(err))
		}
		x.st.Links++
	default:
		return refuse(e.Type.String() + " nodes are not extracted")
	}
	return nil
}

// fill copies a file's content into f and closes it, counting the bytes
// (a sparse file at its logical size, checked before anything is read)
// against the cap. Sparse files are written with holes.
func (x *extractor) fill(f *os.File, i int, e *layer.Entry, r io.Reader) error {
	if x.max > 0 && x.st.Bytes+e.Size > x.max {
		f.Close()
		return fmt.Errorf("%w: more than %d bytes to write (at /%s in layer %d, %d bytes)", ErrLimit, x.max, e.Path, i, e.Size)
	}
	src := r
	if x.max > 0 {
		src = io.LimitReader(r, x.max-x.st.Bytes+1)
	}
	var n int64
	var err error
	if e.Sparse {
		n, err = x.copySparse(f, src)
	} else {
		n, err = io.Copy(f, src)
	}
	x.st.Bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", e.Path, err)
	}
	if x.max > 0 && x.st.Bytes > x.max {
		return fmt.Errorf("%w: more than %d bytes to write (at /%s in layer %d)", ErrLimit, x.max, e.Path, i)
	}
	return nil
}

// holeBlock is the granularity of holes written for sparse files.
const holeBlock = 4096

var zeroBlock [holeBlock]byte

// copySparse copies r to f, seeking over every all-zero block instead of
// writing it, so disk use follows the data, and sets the size at the end.
func (x *extractor) copySparse(f *os.File, r io.Reader) (int64, error) {
	if x.buf == nil {
		x.buf = make([]byte, 256<<10)
	}
	var n int64
	for {
		m, rerr := io.ReadFull(r, x.buf)
		b := x.buf[:m]
		for len(b) > 0 {
			k := min(len(b), holeBlock)
			if bytes.Equal(b[:k], zeroBlock[:k]) {
				if _, err := f.Seek(int64(k), io.SeekCurrent); err != nil {
					return n, err
				}
				b, n = b[k:], n+int64(k)
				continue
			}
			run := k // extend the data run up to the next zero block
			for run < len(b) {
				k2 := min(len(b)-run, holeBlock)
				if bytes.Equal(b[run:run+k2], zeroBlock[:k2]) {
					break
				}
				run += k2
			}
			if _, err := f.Write(b[:run]); err != nil {
				return n, err
			}
			b, n = b[run:], n+int64(run)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, f.Truncate(n)
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func escapeReason(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "escapes") {
		return "path escapes the extraction directory through a symlink"
	}
	return msg
}
