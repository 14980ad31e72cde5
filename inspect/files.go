package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/source/content"
)

// Errors of file operations.
var (
	// ErrNoSuchFile: no layer has a regular file at the path.
	ErrNoSuchFile = errors.New("no such file in the image")
	// ErrNotRegular: the path is a directory, link or special file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrLimit: extraction would write more than the byte cap.
	ErrLimit = errors.New("byte limit reached")
)

// FileInfo says where a file read by ReadFile came from.
type FileInfo struct {
	Layer int           `json:"layer"`
	Path  string        `json:"path"`
	Size  int64         `json:"size"`
	State overlay.State `json:"state"`
	// HiddenBy is the layer that deleted or overwrote this copy, -1 if none.
	HiddenBy int `json:"hiddenBy"`
}

// ReadFile copies the bytes of the regular file at p as it was in layer idx
// to w. With idx < 0 it takes the highest layer that has the file, even if
// a later layer deleted it: the "recover the deleted .env" case. Hard links
// are followed within their layer. Every layer read is walked to its end, so
// its digest is verified even though the bytes were already written.
func ReadFile(ctx context.Context, s content.Store, im *image.Image, p string, idx int, w io.Writer, opts Options) (FileInfo, error) {
	clean, _ := layer.CleanPath(p)
	if clean == "" {
		return FileInfo{}, fmt.Errorf("%w: %q is the root directory", ErrNotRegular, p)
	}
	order := []int{idx}
	if idx < 0 {
		order = order[:0]
		for i := len(im.Layers) - 1; i >= 0; i-- {
			order = append(order, i)
		}
	} else if idx >= len(im.Layers) {
		return FileInfo{}, fmt.Errorf("layer %d out of range: the image has %d layers (0-%d)", idx, len(im.Layers), len(im.Layers)-1)
	}
	// The layers walked while searching feed the overlay tree that says
	// whether a later layer hid the file; only the rest are walked after.
	t := overlay.New()
	walked := make([]bool, len(im.Layers))
	for _, i := range order {
		info, err := readFromLayer(ctx, s, im, i, clean, w, opts, func(e *layer.Entry) { t.Add(i, e) })
		walked[i] = true
		if errors.Is(err, ErrNoSuchFile) && idx < 0 {
			continue
		}
		if err != nil {
			return info, err
		}
		var upper []int
		for u := i + 1; u < len(im.Layers); u++ {
			if !walked[u] {
				upper = append(upper, u)
			}
		}
		if len(upper) > 0 {
			if _, err := WalkLayers(ctx, s, im, upper, opts, func(u int, e *layer.Entry, _ io.Reader) error {
				t.Add(u, e)
				return nil
			}); err != nil {
				return info, err
			}
		}
		r := t.State(i, &layer.Entry{Path: clean, Type: layer.TypeFile})
		info.State, info.HiddenBy = r.State, r.HiddenBy
		return info, nil
	}
	return FileInfo{}, fmt.Errorf("%w: no layer of %s has a regular file at /%s",
		ErrNoSuchFile, im.Manifest.Digest, clean)
}

// readFromLayer copies the file at p in layer i to w, walking the whole
// layer (seen gets every entry) so the blob is verified.
func readFromLayer(ctx context.Context, s content.Store, im *image.Image, i int, p string, w io.Writer, opts Options, seen func(*layer.Entry)) (FileInfo, error) {
	info := FileInfo{Layer: i, Path: p}
	target := p
	for hops := 0; hops < 8; hops++ {
		var link string
		var found bool
		_, err := WalkLayer(ctx, s, im, i, opts, func(e *layer.Entry, r io.Reader) error {
			if hops == 0 {
				seen(e)
			}
			if found || link != "" || e.Path != target || e.IsWhiteout() {
				return nil
			}
			switch e.Type {
			case layer.TypeFile:
				n, err := io.Copy(w, r)
				info.Size = n
				if err != nil {
					return fmt.Errorf("write %s: %w", p, err)
				}
				found = true
				return nil
			case layer.TypeHardlink:
				link = e.Linkname
				return nil
			case layer.TypeSymlink:
				return fmt.Errorf("%w: %s in layer %d is a symlink to %s; read the target instead", ErrNotRegular, p, i, e.Linkname)
			default:
				return fmt.Errorf("%w: %s in layer %d is a %s", ErrNotRegular, p, i, e.Type)
			}
		})
		if err != nil {
			return info, err
		}
		if found {
			return info, nil
		}
		if link == "" {
			return info, ErrNoSuchFile
		}
		target = link
	}
	return info, fmt.Errorf("%w: %s: hard link chain too long", ErrNotRegular, p)
}

// ExtractOptions select what Extract writes.
type ExtractOptions struct {
	// Layer is the one layer to write; < 0 writes the final filesystem.
	Layer int
	// Prefix limits extraction to a path and what is below it.
	Prefix string
	// MaxBytes caps the total bytes written (0: no cap).
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
}

// Extract writes files of im under dir, never outside it: entries whose
// names escape the root are refused, every write goes through an os.Root
// (so symlinks in the image cannot redirect a write outside dir), device
// nodes and FIFOs are refused, set-id bits are dropped, and the total bytes
// written are capped.
func Extract(ctx context.Context, s content.Store, im *image.Image, dir string, xo ExtractOptions, opts Options) (*ExtractStats, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create extraction directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open extraction directory: %w", err)
	}
	defer root.Close()
	st := &ExtractStats{}
	xo.Prefix, _ = layer.CleanPath(xo.Prefix)
	var idxs []int
	var winner map[string]int
	if xo.Layer >= 0 {
		if xo.Layer >= len(im.Layers) {
			return nil, fmt.Errorf("layer %d out of range: the image has %d layers (0-%d)", xo.Layer, len(im.Layers), len(im.Layers)-1)
		}
		idxs = []int{xo.Layer}
	} else {
		a, err := Analyze(ctx, s, im, opts)
		if err != nil {
			return nil, err
		}
		winner = map[string]int{}
		for _, fe := range a.Listing.Final() {
			if underPrefix(fe.Entry.Path, xo.Prefix) {
				winner[fe.Entry.Path] = fe.Layer
			}
		}
		seen := map[int]bool{}
		for _, l := range winner {
			seen[l] = true
		}
		for l := range seen {
			idxs = append(idxs, l)
		}
		sort.Ints(idxs)
	}
	sequential := opts
	sequential.Concurrency = 1 // layer order matters when writing
	for _, i := range idxs {
		_, err := WalkLayers(ctx, s, im, []int{i}, sequential, func(i int, e *layer.Entry, r io.Reader) error {
			if e.IsWhiteout() || e.Path == "" || !underPrefix(e.Path, xo.Prefix) {
				return nil
			}
			if winner != nil {
				if l, ok := winner[e.Path]; !ok || l != i {
					return nil
				}
			}
			return writeEntry(root, st, i, e, r, xo.MaxBytes)
		})
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

func writeEntry(root *os.Root, st *ExtractStats, i int, e *layer.Entry, r io.Reader, max int64) error {
	refuse := func(reason string) error {
		st.Refused = append(st.Refused, Refusal{Layer: i, Path: e.Path, Reason: reason})
		return nil
	}
	if e.Unsafe != "" {
		return refuse(e.Unsafe)
	}
	if dir := path.Dir(e.Path); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return refuse("parent directory: " + escapeReason(err))
		}
	}
	perm := e.Mode.Perm()
	switch e.Type {
	case layer.TypeDir:
		if err := root.MkdirAll(e.Path, perm|0o700); err != nil {
			return refuse(escapeReason(err))
		}
		st.Dirs++
	case layer.TypeFile:
		_ = root.Remove(e.Path) // replace, never write through an existing link
		f, err := root.OpenFile(e.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o600)
		if err != nil {
			return refuse(escapeReason(err))
		}
		var src io.Reader = r
		if max > 0 {
			src = io.LimitReader(r, max-st.Bytes+1)
		}
		n, err := io.Copy(f, src)
		st.Bytes += n
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", e.Path, err)
		}
		if max > 0 && st.Bytes > max {
			return fmt.Errorf("%w: more than %d bytes to write (at /%s in layer %d)", ErrLimit, max, e.Path, i)
		}
		st.Files++
	case layer.TypeSymlink:
		_ = root.Remove(e.Path)
		if err := root.Symlink(e.Linkname, e.Path); err != nil {
			return refuse(escapeReason(err))
		}
		st.Links++
	case layer.TypeHardlink:
		_ = root.Remove(e.Path)
		if err := root.Link(e.Linkname, e.Path); err != nil {
			return refuse("hard link: " + escapeReason(err))
		}
		st.Links++
	default:
		return refuse(e.Type.String() + " nodes are not extracted")
	}
	return nil
}

func escapeReason(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "escapes") {
		return "path escapes the extraction directory through a symlink"
	}
	return msg
}
