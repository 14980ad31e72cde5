package scrub

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
)

// blobEntries is the listing of one layer blob: its entries in tar order
// (an entry's position is its ordinal, which the rewrite uses to find it
// again) and what the walk measured.
type blobEntries struct {
	entries []*layer.Entry
	res     layer.Result
}

// indexLayers walks every distinct layer blob of ims once (at most two at
// a time), verifying each against its digest and diff_id.
func indexLayers(ctx context.Context, s content.Store, ims []*image.Image, maxBytes int64) (map[image.Digest]*blobEntries, error) {
	type job struct {
		d      image.Descriptor
		diffID image.Digest
	}
	var jobs []job
	seen := map[image.Digest]bool{}
	for _, im := range ims {
		for _, l := range im.Layers {
			if !seen[l.Descriptor.Digest] {
				seen[l.Descriptor.Digest] = true
				jobs = append(jobs, job{l.Descriptor, l.DiffID})
			}
		}
	}
	out := make([]*blobEntries, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, j := range jobs {
		g.Go(func() error {
			be, err := listBlob(gctx, s, j.d, j.diffID, maxBytes)
			out[i] = be
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m := make(map[image.Digest]*blobEntries, len(jobs))
	for i, j := range jobs {
		m[j.d.Digest] = out[i]
	}
	return m, nil
}

// emptyListings stands in for indexLayers when no layer can change.
func emptyListings(ims []*image.Image) map[image.Digest]*blobEntries {
	m := map[image.Digest]*blobEntries{}
	for _, im := range ims {
		for _, l := range im.Layers {
			m[l.Descriptor.Digest] = &blobEntries{res: layer.Result{DiffID: l.DiffID}}
		}
	}
	return m
}

func listBlob(ctx context.Context, s content.Store, d image.Descriptor, diffID image.Digest, maxBytes int64) (*blobEntries, error) {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("open layer %s: %w", d.Digest, err)
	}
	defer rc.Close()
	be := &blobEntries{}
	be.res, err = layer.Walk(ctx, rc, d, diffID, layer.Options{MaxBytes: maxBytes, What: "layer"}, func(e *layer.Entry, _ io.Reader) error {
		be.entries = append(be.entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return be, nil
}

// pathRef is one non-marker entry of an image's stack.
type pathRef struct {
	path  string
	layer int
	ord   int
}

// stackPaths is every non-marker entry of a stack, sorted by path, for
// "is anything at or under P in a lower layer" queries.
type stackPaths []pathRef

func newStackPaths(layers [][]*layer.Entry) stackPaths {
	var sp stackPaths
	for li, es := range layers {
		for ord, e := range es {
			if !e.IsWhiteout() {
				sp = append(sp, pathRef{e.Path, li, ord})
			}
		}
	}
	sort.Slice(sp, func(a, b int) bool { return sp[a].path < sp[b].path })
	return sp
}

// lower reports whether an entry below layer top lies at p (when exact)
// or strictly under p, and keep(entry) holds for it.
func (sp stackPaths) lower(p string, exact bool, top int, keep func(pathRef) bool) bool {
	check := func(from int, match func(string) bool) bool {
		for i := from; i < len(sp) && match(sp[i].path); i++ {
			if sp[i].layer < top && keep(sp[i]) {
				return true
			}
		}
		return false
	}
	if exact {
		i := sort.Search(len(sp), func(i int) bool { return sp[i].path >= p })
		if check(i, func(s string) bool { return s == p }) {
			return true
		}
	}
	prefix := p + "/"
	if p == "" {
		prefix = ""
	}
	i := sort.Search(len(sp), func(i int) bool { return sp[i].path >= prefix })
	return check(i, func(s string) bool { return strings.HasPrefix(s, prefix) })
}
