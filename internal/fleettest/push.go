package fleettest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/internal/testtool"
)

// WriteLayout writes every image of the fleet into one OCI layout at dir,
// each tagged Image.LayoutTag().
func (f *Fleet) WriteLayout(t testing.TB, dir string) {
	t.Helper()
	for _, im := range f.Images {
		WriteImage(t, dir, im)
	}
}

// WriteImage adds one image to the OCI layout at dir, tagged
// im.LayoutTag().
func WriteImage(t testing.TB, dir string, im Image) {
	t.Helper()
	if d := fixture.WriteLayout(t, dir, im.LayoutTag(), im.Spec); d.Digest != im.Built.Manifest.Digest {
		t.Fatalf("fleettest: %s written as %s, built as %s: the fixture is not deterministic", im.LayoutTag(), d.Digest, im.Built.Manifest.Digest)
	}
}

// PushSkopeo copies images (Fleet.Images, or some of them, or an extra
// image such as Slow's) from the OCI layout at layoutDir, where WriteLayout
// or WriteImage put them, to r with real skopeo, parallel copies at a time.
// It returns when each push finished (skopeo exited), in the order of ims.
func PushSkopeo(t testing.TB, ctx context.Context, r *registrytest.Registry, layoutDir string, ims []Image, parallel int) []time.Time {
	t.Helper()
	bin := testtool.Require(t, "skopeo")
	done := make([]time.Time, len(ims))
	idx := make([]int, len(ims))
	for i := range idx {
		idx[i] = i
	}
	each(ctx, idx, parallel, func(i int) {
		im := ims[i]
		args := []string{"--insecure-policy", "copy", "-q", "--preserve-digests"}
		args = append(args, r.SkopeoArgs(false)...)
		args = append(args, "oci:"+layoutDir+":"+im.LayoutTag(), "docker://"+im.Ref(r.Host))
		registrytest.Skopeo(t, ctx, bin, args...)
		done[i] = time.Now()
	})
	if t.Failed() {
		t.FailNow()
	}
	return done
}

// PushAPI pushes every image of the fleet to r through the registry API
// (blobs a repository already holds are not uploaded again), parallel
// images at a time: the fast path for large fleets.
func (f *Fleet) PushAPI(t testing.TB, ctx context.Context, r *registrytest.Registry, parallel int) {
	t.Helper()
	// One goroutine per repository at a time, so that a repository's blob
	// existence checks are not raced by its own uploads.
	byRepo := map[string][]int{}
	repos := f.Repos()
	for i, im := range f.Images {
		byRepo[im.Repo] = append(byRepo[im.Repo], i)
	}
	ri := make([]int, len(repos))
	for i := range ri {
		ri[i] = i
	}
	each(ctx, ri, parallel, func(k int) {
		repo := r.Repo(t, ctx, repos[k])
		have := map[image.Digest]bool{}
		for _, i := range byRepo[repos[k]] {
			b := f.Images[i].Built
			for _, l := range b.Layers {
				if !have[l.Digest] {
					registrytest.PushBlob(t, ctx, repo, l.MediaType, l.Bytes)
					have[l.Digest] = true
				}
			}
			registrytest.PushBlob(t, ctx, repo, b.Config.MediaType, b.ConfigBytes)
			registrytest.PushManifest(t, ctx, repo, f.Images[i].Tag, b.Manifest.MediaType, b.ManifestBytes)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
}

// each runs fn on every item, at most parallel at once, and stops starting
// new ones once ctx is done. fn may call t.Fatal: runtime.Goexit ends only
// that goroutine and the test is marked failed.
func each(ctx context.Context, items []int, parallel int, fn func(int)) {
	if parallel < 1 {
		parallel = 1
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(it)
		}()
	}
	wg.Wait()
}
