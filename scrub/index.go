package scrub

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
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
	// cached: the listing came from the scan cache (entries carry Path,
	// Type, Linkname and Unsafe only; the blob was not read).
	cached bool
	// spool is the uncompressed tar as the listing walk read and verified
	// it, kept when the layer has something to remove, so that its rewrite
	// does not decompress and hash the blob a second time.
	spool string
	// head is the blob's first bytes (the gzip header names its level).
	head []byte
}

// ReadStats say how the layers were listed: from the scan cache (not
// read at all), or by one verified walk; and how many rewrites read the
// blob rather than the walk's spooled copy.
type ReadStats struct {
	ListedFromCache int `json:"listedFromCache"`
	ListedByWalk    int `json:"listedByWalk"`
	// RewrittenFromSpool rewrites used the uncompressed stream the
	// listing walk kept; RewrittenFromBlob read the blob (its listing came
	// from the cache, or a later layer's edit made it change).
	RewrittenFromSpool int `json:"rewrittenFromSpool"`
	RewrittenFromBlob  int `json:"rewrittenFromBlob"`
}

// listLayers lists every distinct layer blob of ims: from the scan cache
// when it holds the blob's listing (recorded by a walk that verified that
// digest), else by one verified walk (at most two at a time). A walked
// layer that a selector may touch keeps its uncompressed stream in the
// staging directory for the rewrite.
func (pl *planner) listLayers(ctx context.Context, ims []*image.Image) (map[image.Digest]*blobEntries, error) {
	type job struct {
		d      image.Descriptor
		diffID image.Digest
	}
	m := map[image.Digest]*blobEntries{}
	var jobs []job
	for _, im := range ims {
		for _, l := range im.Layers {
			if _, seen := m[l.Descriptor.Digest]; seen {
				continue
			}
			be, err := pl.cachedListing(ctx, l)
			if err != nil {
				return nil, err
			}
			m[l.Descriptor.Digest] = be
			if be == nil {
				jobs = append(jobs, job{l.Descriptor, l.DiffID})
			}
		}
	}
	out := make([]*blobEntries, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, j := range jobs {
		g.Go(func() error {
			be, err := pl.listBlob(gctx, j.d, j.diffID)
			out[i] = be
			return err
		})
	}
	err := g.Wait()
	for i, j := range jobs {
		m[j.d.Digest] = out[i]
	}
	if err != nil {
		for _, be := range out {
			if be != nil && be.spool != "" {
				os.Remove(be.spool)
			}
		}
		return nil, err
	}
	pl.plan.Reads.ListedByWalk = len(jobs)
	pl.plan.Reads.ListedFromCache = len(m) - len(jobs)
	return m, nil
}

// cachedListing returns the scan cache's listing of l's blob, or nil.
func (pl *planner) cachedListing(ctx context.Context, l image.Layer) (*blobEntries, error) {
	if pl.opts.Cache == nil {
		return nil, nil
	}
	es, diffID, ok, err := pl.opts.Cache.Listing(ctx, l.Descriptor.Digest)
	if err != nil {
		pl.log.Warn("scan cache unreadable; reading the layer", "layer", l.Descriptor.Digest, "err", err)
		return nil, nil
	}
	if !ok {
		return nil, nil
	}
	if l.DiffID != "" && diffID != l.DiffID {
		return nil, fmt.Errorf("%w: layer %d (%s) has diff_id %s, the config claims %s", content.ErrDigestMismatch, l.Index, l.Descriptor.Digest, diffID, l.DiffID)
	}
	return &blobEntries{entries: es, res: layer.Result{DiffID: diffID, Digest: l.Descriptor.Digest, Entries: len(es)}, cached: true}, nil
}

// mayTouch reports whether a selector can change the blob d before its
// entries are known: a path glob can match any layer; findings name their
// layers, but removing a file can leave a whiteout or opaque marker of any
// layer hiding nothing (it is then dropped, and that layer rewritten).
func (pl *planner) mayTouch() bool {
	return len(pl.globs) > 0 || len(pl.ft.files) > 0 || len(pl.ft.members) > 0
}

// touches reports whether the listed blob is likely to be rewritten: a
// selector removes one of its entries, or it holds a marker that a removal
// may leave hiding nothing. A layer it misses that still changes is read
// again (ReadStats.RewrittenFromBlob).
func (pl *planner) touches(be *blobEntries, d, diffID image.Digest) bool {
	files := mergeSets(pl.ft.files[d], pl.ft.files[diffID])
	members := pl.ft.members[d]
	if members == nil {
		members = pl.ft.members[diffID]
	}
	for _, e := range be.entries {
		if e.IsWhiteout() {
			if pl.markerMayDangle(e) {
				return true
			}
			continue
		}
		if _, ok := matchGlobs(pl.globs, e.Path); ok || files[e.Path] {
			return true
		}
		if _, ok := members[e.Path]; ok && e.Type == layer.TypeFile {
			return true
		}
	}
	return false
}

// markerMayDangle: a whiteout of a path a selector removes, or an opaque
// marker over a directory under which something may be removed.
func (pl *planner) markerMayDangle(e *layer.Entry) bool {
	if _, ok := matchGlobs(pl.globs, e.Path); ok {
		return true
	}
	if e.Type == layer.TypeOpaque && len(pl.globs) > 0 {
		return true
	}
	prefix := e.Path + "/"
	for _, files := range pl.ft.files {
		for p := range files {
			if p == e.Path || strings.HasPrefix(p, prefix) || e.Path == "" {
				return true
			}
		}
	}
	return false
}

// emptyListings stands in for listLayers when no layer can change.
func emptyListings(ims []*image.Image) map[image.Digest]*blobEntries {
	m := map[image.Digest]*blobEntries{}
	for _, im := range ims {
		for _, l := range im.Layers {
			m[l.Descriptor.Digest] = &blobEntries{res: layer.Result{DiffID: l.DiffID}}
		}
	}
	return m
}

// headRecorder keeps the first bytes read through it.
type headRecorder struct {
	r    io.Reader
	head []byte
}

func (h *headRecorder) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if k := min(n, 16-len(h.head)); k > 0 {
		h.head = append(h.head, p[:k]...)
	}
	return n, err
}

// listBlob walks one blob (verifying its digest and diff_id) for its
// listing; when a selector may touch it, the uncompressed stream goes to a
// spool file too, which is kept only if one does.
func (pl *planner) listBlob(ctx context.Context, d image.Descriptor, diffID image.Digest) (*blobEntries, error) {
	rc, err := pl.src.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("open layer %s: %w", d.Digest, err)
	}
	defer rc.Close()
	be := &blobEntries{}
	opts := layer.Options{MaxBytes: pl.opts.MaxLayerBytes, What: "layer"}
	var spool *os.File
	var bw *bufio.Writer
	if pl.mayTouch() {
		if spool, err = os.CreateTemp(pl.plan.stage.dir, "spool-*.tar"); err != nil {
			return nil, fmt.Errorf("spool layer %s: %w", d.Digest, err)
		}
		defer spool.Close()
		bw = bufio.NewWriterSize(spool, 256<<10)
		opts.Tee = bw
	}
	hr := &headRecorder{r: rc}
	be.res, err = layer.Walk(ctx, hr, d, diffID, opts, func(e *layer.Entry, _ io.Reader) error {
		be.entries = append(be.entries, e)
		return nil
	})
	be.head = hr.head
	if err == nil && spool != nil {
		if err = bw.Flush(); err == nil {
			err = spool.Close()
		}
		if err == nil && pl.touches(be, d.Digest, diffID) {
			be.spool = spool.Name()
		} else {
			os.Remove(spool.Name())
		}
	} else if spool != nil {
		os.Remove(spool.Name())
	}
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
