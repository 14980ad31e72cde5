package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
)

// Errors of file operations.
var (
	// ErrNoSuchFile: no layer has a regular file at the path.
	ErrNoSuchFile = errors.New("no such file in the image")
	// ErrNotRegular: the path is a directory, link or special file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrLimit: extraction or a file read would write more than the byte cap.
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

// catBuffer is how much of a candidate file readFromLayer keeps in memory
// while it walks a layer. Within a layer the last entry for a path wins,
// which is known only at the end of the walk: a winner that fits is written
// from memory, a larger one (or a hard link's target) by a second walk.
const catBuffer = 4 << 20

// body is a regular file entry of a layer: its position and size.
type body struct {
	ord  int
	size int64
}

// layerFile is what one walk of a layer found at the path ReadFile wants.
type layerFile struct {
	last   *layer.Entry // the layer's last safe entry at the path; nil: none
	body   body         // the file whose bytes last holds (hard links resolved); ord -1: none
	buf    []byte       // the bytes of the entry at bufOrd when they fit in catBuffer
	bufOrd int
}

// readFromLayer copies the file at p in layer i to w, walking the whole
// layer (seen gets every entry) so the blob is verified. The rules are tar
// extraction's, shared with ls and extract: the last entry for p in the
// layer wins, entries that climb out of the root are not applied, and a
// hard link holds the bytes of the last file at its target before it.
func readFromLayer(ctx context.Context, s content.Store, im *image.Image, i int, p string, w io.Writer, opts Options, seen func(*layer.Entry)) (FileInfo, error) {
	info := FileInfo{Layer: i, Path: p}
	lf := layerFile{body: body{ord: -1}, bufOrd: -1}
	files := map[string]body{} // what each path holds so far, as tar extraction would leave it
	ord := -1
	_, err := WalkLayer(ctx, s, im, i, opts, func(e *layer.Entry, r io.Reader) error {
		ord++
		seen(e)
		if e.Unsafe != "" || e.IsWhiteout() {
			return nil
		}
		switch e.Type {
		case layer.TypeFile:
			files[e.Path] = body{ord: ord, size: e.Size}
		case layer.TypeHardlink:
			if b, ok := files[e.Linkname]; ok {
				files[e.Path] = b
			} else {
				delete(files, e.Path)
			}
		default:
			delete(files, e.Path)
		}
		if e.Path != p {
			return nil
		}
		lf.last, lf.body, lf.buf, lf.bufOrd = e, body{ord: -1}, nil, -1
		if b, ok := files[p]; ok {
			lf.body = b
		}
		if e.Type == layer.TypeFile && e.Size <= catBuffer {
			buf, err := io.ReadAll(io.LimitReader(r, catBuffer))
			if err != nil {
				return err
			}
			lf.buf, lf.bufOrd = buf, ord
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	if err := lf.check(p, i); err != nil {
		return info, err
	}
	info.Size = lf.body.size
	if opts.MaxFileBytes > 0 && lf.body.size > opts.MaxFileBytes {
		return info, fmt.Errorf("%w: %s in layer %d is %d bytes, more than the %d-byte limit", ErrLimit, p, i, lf.body.size, opts.MaxFileBytes)
	}
	if lf.bufOrd == lf.body.ord {
		if _, err := w.Write(lf.buf); err != nil {
			return info, fmt.Errorf("write %s: %w", p, err)
		}
		return info, nil
	}
	return info, copyEntry(ctx, s, im, i, lf.body.ord, p, w, opts)
}

// check says why the layer's entry at p cannot be read as a file.
func (lf *layerFile) check(p string, i int) error {
	e := lf.last
	switch {
	case e == nil:
		return ErrNoSuchFile
	case e.Type == layer.TypeSymlink:
		return fmt.Errorf("%w: %s in layer %d is a symlink to %s; read the target instead", ErrNotRegular, p, i, e.Linkname)
	case e.Type == layer.TypeHardlink && lf.body.ord < 0:
		return fmt.Errorf("%w: %s in layer %d is a hard link to %s, which is not a regular file of that layer", ErrNoSuchFile, p, i, e.Linkname)
	case e.Type != layer.TypeFile && e.Type != layer.TypeHardlink:
		return fmt.Errorf("%w: %s in layer %d is a %s", ErrNotRegular, p, i, e.Type)
	}
	return nil
}

// copyEntry walks layer i again and copies the body of its entry at
// position ord to w.
func copyEntry(ctx context.Context, s content.Store, im *image.Image, i, ord int, p string, w io.Writer, opts Options) error {
	n := -1
	_, err := WalkLayer(ctx, s, im, i, opts, func(e *layer.Entry, r io.Reader) error {
		n++
		if n != ord || r == nil {
			return nil
		}
		if _, err := io.Copy(w, r); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return nil
	})
	return err
}
