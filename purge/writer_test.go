package purge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/registry"
)

// writer pushes random content into a repository while a purge runs, as
// other clients would: images reusing the repository's layers and configs
// (the purge's planned blobs among them), signatures of its images (API
// referrers or cosign tags), and multi-arch indexes. Like docker or skopeo
// it HEADs a blob it did not make and uploads only its own: when a blob it
// reuses is missing (the purge deleted it), the push is abandoned, so every
// planned blob still present afterwards is there because the purge kept or
// restored it. It records only pushes the registry acknowledged.
type writer struct {
	repo *registry.Repo
	g    *genRepo
	rng  *rand.Rand
	api  bool
	n    int

	mu sync.Mutex
	// tags are the tags pushed, to their manifest; refs the untagged API
	// referrers pushed, to their subject.
	tags map[string]image.Digest
	refs map[image.Digest]image.Digest
	// blobs and children of every manifest pushed.
	blobs    map[image.Digest][]image.Digest
	children map[image.Digest][]image.Digest
	pushes   int
	failed   int
}

func newWriter(repo *registry.Repo, g *genRepo, seed int64, api bool) *writer {
	return &writer{repo: repo, g: g, rng: rand.New(rand.NewSource(seed)), api: api,
		tags: map[string]image.Digest{}, refs: map[image.Digest]image.Digest{},
		blobs: map[image.Digest][]image.Digest{}, children: map[image.Digest][]image.Digest{}}
}

// run pushes until stop is closed, then returns.
func (w *writer) run(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		var ok bool
		switch k := w.rng.Intn(10); {
		case k < 6:
			ok = w.image(ctx)
		case k < 9:
			ok = w.signature(ctx)
		default:
			ok = w.index(ctx)
		}
		w.mu.Lock()
		w.pushes++
		if !ok {
			w.failed++
		}
		w.mu.Unlock()
		time.Sleep(time.Duration(1+w.rng.Intn(4)) * time.Millisecond)
	}
}

// fresh returns new random bytes as a blob of type mt.
func (w *writer) fresh(mt string) blobData {
	b := make([]byte, 16+w.rng.Intn(32))
	w.rng.Read(b)
	if mt == image.MediaTypeOCIConfig {
		b, _ = json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}, "w": w.rng.Int63()})
	}
	return blobData{image.Descriptor{MediaType: mt, Digest: image.FromBytes(b), Size: int64(len(b))}, b}
}

// ensure makes a blob available for a push: its own are uploaded, reused
// ones only checked with HEAD.
func (w *writer) ensure(ctx context.Context, b blobData, reused bool) bool {
	if reused {
		_, err := w.repo.HeadBlob(ctx, b.d.Digest)
		return err == nil
	}
	return w.repo.PutBlob(ctx, b.d.Digest, b.d.Size, bytes.NewReader(b.data)) == nil
}

func (w *writer) reuse(ds []image.Digest) blobData { return w.g.data[ds[w.rng.Intn(len(ds))]] }

// put pushes a manifest and records it when the registry accepts it.
func (w *writer) put(ctx context.Context, tag string, m any, blobs, children []image.Digest) (image.Descriptor, bool) {
	// A nonce keeps every manifest new: reusing a config and the same
	// layers would otherwise re-create a manifest of the repository (the
	// purge target itself, which deleting by digest takes with its tags).
	nonce := map[string]string{"org.example.writer.nonce": fmt.Sprint(w.rng.Int63())}
	mt := image.MediaTypeOCIManifest
	switch x := m.(type) {
	case image.Manifest:
		x.Annotations = nonce
		m = x
	case image.Index:
		x.Annotations = nonce
		m = x
		mt = image.MediaTypeOCIIndex
	}
	raw, _ := json.Marshal(m)
	d, err := w.repo.PutManifest(ctx, tag, mt, raw)
	if err != nil {
		return image.Descriptor{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.blobs[d] = blobs
	w.children[d] = children
	if tag != "" {
		w.tags[tag] = d
	}
	return image.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}, true
}

func (w *writer) nextTag() string {
	w.n++
	return fmt.Sprintf("w%d", w.n)
}

// image pushes an image of reused layers (and sometimes a new one) with a
// new or reused config.
func (w *writer) image(ctx context.Context) bool {
	cfg, reused := w.fresh(image.MediaTypeOCIConfig), false
	if len(w.g.configs) > 0 && w.rng.Intn(3) == 0 {
		cfg, reused = w.reuse(w.g.configs), true
	}
	if !w.ensure(ctx, cfg, reused) {
		return false
	}
	m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cfg.d}
	blobs := []image.Digest{cfg.d.Digest}
	seen := map[image.Digest]bool{}
	for i, k := 0, 1+w.rng.Intn(3); i < k; i++ {
		l, reused := w.reuse(w.g.layers), true
		if w.rng.Intn(4) == 0 {
			l, reused = w.fresh(image.MediaTypeOCILayerGzip), false
		}
		if seen[l.d.Digest] {
			continue
		}
		seen[l.d.Digest] = true
		if !w.ensure(ctx, l, reused) {
			return false
		}
		m.Layers = append(m.Layers, l.d)
		blobs = append(blobs, l.d.Digest)
	}
	_, ok := w.put(ctx, w.nextTag(), m, blobs, nil)
	return ok
}

// signature signs one of the repository's images: an untagged referrer
// when the registry has the referrers API, else a cosign tag.
func (w *writer) signature(ctx context.Context) bool {
	subj := w.g.images[w.rng.Intn(len(w.g.images))]
	empty := blobData{image.Descriptor{MediaType: image.MediaTypeOCIEmpty, Digest: image.FromBytes([]byte("{}")), Size: 2}, []byte("{}")}
	_, reused := w.g.data[empty.d.Digest]
	pl := w.fresh("application/vnd.dev.cosign.simplesigning.v1+json")
	if !w.ensure(ctx, empty, reused) || !w.ensure(ctx, pl, false) {
		return false
	}
	m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config: empty.d, Layers: []image.Descriptor{pl.d}}
	blobs := []image.Digest{empty.d.Digest, pl.d.Digest}
	if !w.api {
		_, ok := w.put(ctx, registry.ReferrersTag(subj.Digest)+".sig", m, blobs, nil)
		return ok
	}
	m.Subject = &subj
	d, ok := w.put(ctx, "", m, blobs, nil)
	if ok {
		w.mu.Lock()
		w.refs[d.Digest] = subj.Digest
		w.mu.Unlock()
	}
	return ok
}

// index pushes two new single-layer images by digest, then an index of
// them under a tag. Their blobs are all new: an image pushed in parts (a
// child by digest, its index later) is the case the purge cannot see until
// the index is tagged.
func (w *writer) index(ctx context.Context) bool {
	ix := image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex}
	var kids []image.Digest
	for _, arch := range []string{"amd64", "arm64"} {
		cfg, l := w.fresh(image.MediaTypeOCIConfig), w.fresh(image.MediaTypeOCILayerGzip)
		if !w.ensure(ctx, cfg, false) || !w.ensure(ctx, l, false) {
			return false
		}
		d, ok := w.put(ctx, "", image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cfg.d, Layers: []image.Descriptor{l.d}},
			[]image.Digest{cfg.d.Digest, l.d.Digest}, nil)
		if !ok {
			return false
		}
		d.Platform = &image.Platform{OS: "linux", Architecture: arch}
		ix.Manifests = append(ix.Manifests, d)
		kids = append(kids, d.Digest)
	}
	_, ok := w.put(ctx, w.nextTag(), ix, nil, kids)
	return ok
}

// used returns every blob of what the writer pushed that must stay: the
// content of its tags, and of its referrers whose subject is live.
func (w *writer) used(live map[image.Digest]bool) map[image.Digest]bool {
	out := map[image.Digest]bool{}
	for _, d := range w.roots(live) {
		w.walk(d, func(m image.Digest) {
			for _, b := range w.blobs[m] {
				out[b] = true
			}
		})
	}
	return out
}

// roots are the writer's tagged manifests and its referrers of live
// subjects.
func (w *writer) roots(live map[image.Digest]bool) []image.Digest {
	var out []image.Digest
	for _, d := range w.tags {
		out = append(out, d)
	}
	for r, subj := range w.refs {
		if live[subj] {
			out = append(out, r)
		}
	}
	return out
}

func (w *writer) walk(d image.Digest, f func(image.Digest)) {
	f(d)
	for _, c := range w.children[d] {
		w.walk(c, f)
	}
}

// check asserts that everything the writer pushed and that must stay is
// whole: its tags resolve to what it pushed; every manifest and blob below
// them (and below its referrers of live subjects) is served. Blobs in
// tolerate (reported lost by the purge after an interruption) may be
// missing; it returns how many were.
func (w *writer) check(t *testing.T, ctx context.Context, live, tolerate map[image.Digest]bool, fail func(string, ...any)) int {
	missing := 0
	for tag, d := range w.tags {
		got, err := w.repo.HeadManifest(ctx, tag)
		if err != nil || got.Digest != d {
			fail("writer tag %s: %v, resolves to %s, want %s", tag, err, got.Digest, d)
		}
	}
	for _, root := range w.roots(live) {
		w.walk(root, func(m image.Digest) {
			if _, err := w.repo.HeadManifest(ctx, string(m)); err != nil {
				fail("writer manifest %s (below %s): %v", m, root, err)
			}
			for _, b := range w.blobs[m] {
				if _, err := w.repo.HeadBlob(ctx, b); err != nil {
					if tolerate[b] {
						missing++
						continue
					}
					fail("writer manifest %s (below %s) lost blob %s: %v", m, root, b, err)
				}
			}
		})
	}
	return missing
}
