package scrub_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/scrub"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/source"
)

// countingStore counts how often each blob is opened.
type countingStore struct {
	content.Store
	mu    sync.Mutex
	opens map[image.Digest]int
}

func counting(s content.Store) *countingStore {
	return &countingStore{Store: s, opens: map[image.Digest]int{}}
}

func (c *countingStore) Open(ctx context.Context, d image.Descriptor) (io.ReadCloser, error) {
	c.mu.Lock()
	c.opens[d.Digest]++
	c.mu.Unlock()
	return c.Store.Open(ctx, d)
}

// layerOpens returns how often each layer of im was opened.
func (c *countingStore) layerOpens(im *image.Image) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int, len(im.Layers))
	for i, l := range im.Layers {
		out[i] = c.opens[l.Descriptor.Digest]
	}
	return out
}

// warmCache is a scan cache filled by a scan of the image.
func warmCache(t *testing.T, ctx context.Context, o opened) *scan.Cache {
	t.Helper()
	cache, err := scan.OpenCache(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	scanInto(t, ctx, o, cache, engine(t))
	return cache
}

// scanInto scans the image into the cache.
func scanInto(t *testing.T, ctx context.Context, o opened, cache *scan.Cache, eng *secret.Engine) {
	t.Helper()
	ims, err := source.Select(o.root, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scan.Run(ctx, []scan.Target{{Ref: "x", Store: o.store, Root: o.root, Images: ims}}, scan.Options{Engine: eng, Results: cache.Results()}); err != nil {
		t.Fatal(err)
	}
}

// TestReadsOnlyTouchedLayers: with the scan cache holding the layers'
// listings, a scrub opens only the layers it rewrites, once each, for
// every selector kind; without it, every layer is opened exactly once
// (the listing walk keeps the stream of a layer it will rewrite). Both
// give the same image.
func TestReadsOnlyTouchedLayers(t *testing.T) {
	ctx := testCtx(t)
	ref, _ := writeLayout(t, leakyImage(t))
	src := open(t, ctx, ref)
	im := single(t, src.root)
	cache := warmCache(t, ctx, src)
	fs := findings(t, ctx, src, engine(t))
	// Layer findings only: redacting history needs the engine, whose
	// rescan reads the result's layers (from the cache, when given).
	var envFP string
	var layerFs []scan.Finding
	for _, f := range fs {
		if f.Path == "app/.env" {
			envFP = f.Fingerprint
		}
		if f.Layer != nil {
			layerFs = append(layerFs, f)
		}
	}
	if envFP == "" {
		t.Fatalf("no finding in /app/.env among %d", len(fs))
	}
	// leakyImage: layer 1 holds /app/.env, the zip and the SSH key; layer
	// 2 deletes /app/.env (its whiteout hides nothing once .env is gone);
	// layers 0 and 3 hold nothing to remove.
	cases := []struct {
		name      string
		sel       scrub.Selectors
		rewritten []int
	}{
		{"path", scrub.Selectors{Paths: []string{"/app/.env"}}, []int{1, 2}},
		{"path glob", scrub.Selectors{Paths: []string{"**/id_ed25519"}}, []int{1}},
		{"findings", scrub.Selectors{Findings: layerFs}, []int{1, 2}},
		{"fingerprint", scrub.Selectors{Findings: scrub.FilterFindings(fs, nil, []string{envFP})}, []int{1, 2}},
		{"config only", scrub.Selectors{Env: []string{"GITHUB_TOKEN"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var roots []image.Digest
			for _, warm := range []bool{false, true} {
				cs := counting(src.store)
				opts := scrub.Options{Selectors: tc.sel, WorkDir: t.TempDir()}
				if warm {
					opts.Cache = cache
				}
				p, err := scrub.NewPlan(ctx, cs, src.root, opts)
				if err != nil {
					t.Fatalf("warm=%v: %v", warm, err)
				}
				roots = append(roots, p.NewRoot.Digest)
				var got []int
				for _, lp := range p.Images[0].Layers {
					if lp.Action == scrub.ActionRewritten {
						got = append(got, lp.Index)
					}
				}
				if !equalInts(got, tc.rewritten) {
					t.Fatalf("warm=%v: rewritten layers %v, want %v", warm, got, tc.rewritten)
				}
				opens := cs.layerOpens(im)
				for i, n := range opens {
					want := 0
					switch {
					case tc.rewritten == nil:
					case !warm:
						want = 1 // listed by a walk; rewritten from its spool
					case containsInt(tc.rewritten, i):
						want = 1 // rewritten from the blob, listed by the cache
					}
					if n != want {
						t.Errorf("warm=%v: layer %d opened %d times, want %d (all: %v; reads %+v)", warm, i, n, want, opens, p.Reads)
					}
				}
				if warm && tc.rewritten != nil && (p.Reads.ListedFromCache != len(im.Layers) || p.Reads.ListedByWalk != 0) {
					t.Errorf("reads %+v, want every layer listed from the cache", p.Reads)
				}
				if !warm && tc.rewritten != nil && p.Reads.RewrittenFromSpool != len(tc.rewritten) {
					t.Errorf("reads %+v, want %d rewrites from the spool", p.Reads, len(tc.rewritten))
				}
				p.Close()
			}
			if roots[0] != roots[1] {
				t.Fatalf("cold and warm plans differ: %s vs %s", roots[0], roots[1])
			}
		})
	}
}

// TestHardlinkIntoRemovedLowerLayer: a hard link in an untouched layer to
// a file removed from a lower layer is refused, whether the layers were
// listed by a walk or by the scan cache (which keeps link targets).
func TestHardlinkIntoRemovedLowerLayer(t *testing.T) {
	ctx := testCtx(t)
	img := fixture.Image{Layers: []fixture.Layer{
		{Files: []fixture.File{{Path: "a", Body: []byte("secret\n")}, {Path: "z", Body: []byte("z\n")}}},
		{Files: []fixture.File{{Path: "other", Body: []byte("o\n")}}},
		{Files: []fixture.File{{Path: "b", Type: tar.TypeLink, Linkname: "a"}}},
	}}
	ref, _ := writeLayout(t, img)
	src := open(t, ctx, ref)
	cache := warmCache(t, ctx, src)
	for _, c := range []*scan.Cache{nil, cache} {
		_, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Cache: c, WorkDir: t.TempDir(), Selectors: scrub.Selectors{Paths: []string{"/a"}}})
		if !errors.Is(err, scrub.ErrUnsupported) || !strings.Contains(err.Error(), "hard link /b in layer 2") {
			t.Fatalf("cache=%v: err = %v, want ErrUnsupported naming the link", c != nil, err)
		}
	}
	// Removing the link too is fine, and reads neither untouched layer
	// when the listings are cached.
	cs := counting(src.store)
	p, err := scrub.NewPlan(ctx, cs, src.root, scrub.Options{Cache: cache, WorkDir: t.TempDir(), Selectors: scrub.Selectors{Paths: []string{"/a", "/b"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := cs.layerOpens(single(t, src.root)); !equalInts(got, []int{1, 0, 1}) {
		t.Fatalf("layer opens %v, want [1 0 1]", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
