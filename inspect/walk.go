package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
)

// Options tune layer walks.
type Options struct {
	// Concurrency bounds how many layers stream at once (default 2).
	Concurrency int
	// MaxBytes caps each layer's uncompressed size, sparse files' holes
	// included (0: no cap).
	MaxBytes int64
	// MaxFileBytes caps the size of the file ReadFile writes, holes of a
	// sparse file included (0: no cap).
	MaxFileBytes int64
	// Progress, if set, receives compressed bytes read per layer; it must
	// be safe for concurrent use.
	Progress func(layer int, read int64)
	Logger   *slog.Logger
}

func (o Options) workers() int {
	if o.Concurrency <= 0 {
		return 2
	}
	return o.Concurrency
}

// EntryFunc receives one tar entry of layer idx. Calls for different layers
// run concurrently; calls for one layer are sequential in tar order.
type EntryFunc func(idx int, e *layer.Entry, r io.Reader) error

// WalkLayers streams the given layers of im (all when idxs is nil), calling
// fn for every entry, and returns what each walk measured.
func WalkLayers(ctx context.Context, s content.Store, im *image.Image, idxs []int, opts Options, fn EntryFunc) ([]layer.Result, error) {
	if idxs == nil {
		for i := range im.Layers {
			idxs = append(idxs, i)
		}
	}
	results := make([]layer.Result, len(im.Layers))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.workers())
	for _, i := range idxs {
		if i < 0 || i >= len(im.Layers) {
			return nil, fmt.Errorf("layer %d out of range: the image has %d layers (0-%d)", i, len(im.Layers), len(im.Layers)-1)
		}
		g.Go(func() error {
			res, err := WalkLayer(ctx, s, im, i, opts, func(e *layer.Entry, r io.Reader) error { return fn(i, e, r) })
			results[i] = res
			return err
		})
	}
	return results, g.Wait()
}

// WalkLayer streams layer i of im.
func WalkLayer(ctx context.Context, s content.Store, im *image.Image, i int, opts Options, fn layer.Func) (layer.Result, error) {
	l := im.Layers[i]
	rc, err := s.Open(ctx, l.Descriptor)
	if err != nil {
		return layer.Result{}, fmt.Errorf("open layer %d %s: %w", i, l.Descriptor.Digest, err)
	}
	defer rc.Close()
	lo := layer.Options{MaxBytes: opts.MaxBytes, What: fmt.Sprintf("layer %d", i)}
	if opts.Progress != nil {
		lo.Progress = func(n int64) { opts.Progress(i, n) }
	}
	_, known := image.LayerCompression(l.Descriptor.MediaType)
	if !known {
		opts.logger().Warn("unknown layer media type; walking it if it is a tar", "layer", i, "mediaType", l.Descriptor.MediaType, "digest", l.Descriptor.Digest)
	}
	res, err := layer.Walk(ctx, rc, l.Descriptor, l.DiffID, lo, fn)
	if !known && errors.Is(err, layer.ErrNotTar) {
		opts.logger().Warn("skipped layer of unknown media type: not a tar", "layer", i, "mediaType", l.Descriptor.MediaType, "digest", l.Descriptor.Digest)
		return layer.Result{}, nil
	}
	return res, err
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Collect walks the layers and keeps every entry (no content), per layer,
// in tar order.
func Collect(ctx context.Context, s content.Store, im *image.Image, opts Options) ([][]*layer.Entry, []layer.Result, error) {
	return collect(ctx, s, im, nil, opts)
}

// collect is Collect for the layers idxs (all when nil); the others stay
// empty.
func collect(ctx context.Context, s content.Store, im *image.Image, idxs []int, opts Options) ([][]*layer.Entry, []layer.Result, error) {
	entries := make([][]*layer.Entry, len(im.Layers))
	var mu sync.Mutex
	res, err := WalkLayers(ctx, s, im, idxs, opts, func(i int, e *layer.Entry, _ io.Reader) error {
		if !e.IsWhiteout() && e.Unsafe == "" {
			e.Name = "" // the cleaned Path says it; halves memory on big images
		}
		mu.Lock()
		entries[i] = append(entries[i], e)
		mu.Unlock()
		return nil
	})
	return entries, res, err
}
