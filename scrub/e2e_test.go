package scrub_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/scrub"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/source"
)

// TestReplaceEndToEnd is the acceptance test, against the Debian
// docker-registry 2.8 and embedded distribution v3 (TLS, htpasswd, the
// packaged blob descriptor cache): scrub what a scan found with replace
// and purge applied; afterwards every tag copies whole with skopeo, the
// scrubbed image unpacks with umoci to the original's root filesystem
// minus the removed paths, untouched layers keep their digests, a rescan
// finds none of the removed fingerprints, and after garbage collection the
// old secret blobs are gone by digest.
func TestReplaceEndToEnd(t *testing.T) {
	for _, c := range []struct {
		name  string
		start func(testing.TB, registrytest.Options) *registrytest.Registry
	}{
		{"debian-2.8", registrytest.StartDebian},
		{"embedded-v3", registrytest.NewEmbedded},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			reg := c.start(t, registrytest.Options{Auth: true, TLS: true, BlobDescriptorCache: true})
			repo := reg.Repo(t, ctx, "acme/app")
			img := leakyImage(t)
			img.Layers[2].Compression = "gzip" // Debian's umoci reads gzip layers only
			old, built := registrytest.PushFixture(t, ctx, repo, "v1.0.0", img)
			registrytest.PushManifest(t, ctx, repo, "latest", old.MediaType, built[0].ManifestBytes)
			base := fixture.Image{Layers: img.Layers[:1]}
			registrytest.PushFixture(t, ctx, repo, "base", base)

			st, err := reg.Client(t).Open(ctx, reg.Ref("acme/app", ":v1.0.0"))
			if err != nil {
				t.Fatal(err)
			}
			root, err := source.Load(ctx, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			src := opened{st, root}
			eng := engine(t)
			fs := findings(t, ctx, src, eng)
			p, err := scrub.NewPlan(ctx, st, root, scrub.Options{Engine: eng, Selectors: scrub.Selectors{Findings: fs}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := scrub.PlanReplace(ctx, p, repo, nil); err != nil {
				t.Fatal(err)
			}
			var tags []string
			for _, m := range p.Replace.Tags {
				tags = append(tags, m.Tag)
			}
			if !slices.Equal(tags, []string{"latest", "v1.0.0"}) {
				t.Fatalf("tags to move %v", tags)
			}
			oldBlobs := built[0].Layers
			secretBlobs := []image.Digest{oldBlobs[1].Digest, oldBlobs[2].Digest, built[0].Config.Digest}
			for _, d := range secretBlobs {
				if !slices.Contains(p.Replace.PurgeBlobs, d) {
					t.Fatalf("plan does not expect purge to delete %s: %v", d, p.Replace.PurgeBlobs)
				}
			}
			for _, d := range []image.Digest{oldBlobs[0].Digest, oldBlobs[3].Digest} {
				if slices.Contains(p.Replace.PurgeBlobs, d) {
					t.Fatalf("plan expects purge to delete the reused layer %s", d)
				}
			}
			res, err := scrub.Replace(ctx, p, repo, scrub.ReplaceOptions{Yes: true, Journal: filepath.Join(t.TempDir(), "scrub.jsonl")})
			if err != nil {
				t.Fatalf("replace: %v\n%s", err, handOff(res))
			}
			if res.Verify == nil || len(res.Verify.Problems) > 0 {
				t.Fatalf("purge verify: %+v\n%s", res.Verify, res.HandOff)
			}
			reg.GarbageCollect(t, false, false)
			checkReplaced(t, reg, p, img, old, built[0], fingerprints(fs), eng)
		})
	}
}

func handOff(r *scrub.Replaced) string {
	if r == nil {
		return ""
	}
	return r.HandOff
}

// checkReplaced checks a replaced repository after garbage collection: the
// old secret blobs are gone by digest, every tag copies whole with skopeo,
// untouched layers kept their digests, a rescan finds no removed
// fingerprint, and umoci unpacks the scrubbed image to the original's root
// filesystem except the removed paths.
func checkReplaced(t *testing.T, reg *registrytest.Registry, p *scrub.Plan, img fixture.Image, old image.Descriptor, built *fixture.Built, gone map[string]bool, eng *secret.Engine) {
	ctx := testCtx(t)
	repo := reg.Repo(t, ctx, "acme/app")
	oldBlobs := built.Layers
	secretBlobs := []image.Digest{oldBlobs[1].Digest, oldBlobs[2].Digest, built.Config.Digest}

	for _, d := range append(secretBlobs, old.Digest) {
		if _, err := repo.HeadBlob(ctx, d); !errors.Is(err, content.ErrNotFound) {
			t.Errorf("old blob %s after GC: %v, want not found", d, err)
		}
	}
	out := filepath.Join(t.TempDir(), "copy")
	for _, tag := range []string{"latest", "v1.0.0", "base"} {
		run(t, "skopeo", append(append([]string{"copy", "--quiet"}, reg.SkopeoArgs(true)...),
			"docker://"+reg.Ref("acme/app", ":"+tag), "oci:"+out+":"+tag)...)
	}
	dst := open(t, ctx, "oci:"+out+":v1.0.0")
	if dst.root.Descriptor.Digest != p.NewRoot.Digest {
		t.Fatalf("v1.0.0 is %s, want the scrubbed %s", dst.root.Descriptor.Digest, p.NewRoot.Digest)
	}
	newIm := single(t, dst.root)
	for _, i := range []int{0, 3} {
		if newIm.Layers[i].Descriptor.Digest != oldBlobs[i].Digest {
			t.Errorf("untouched layer %d: %s, want %s", i, newIm.Layers[i].Descriptor.Digest, oldBlobs[i].Digest)
		}
	}
	for _, f := range findings(t, ctx, dst, eng) {
		if gone[f.Fingerprint] {
			t.Fatalf("rescan finds removed %s at %s", f.Rule, f.Path)
		}
	}
	orig := filepath.Join(t.TempDir(), "orig")
	fixture.WriteLayout(t, orig, "v1.0.0", img)
	tmp := t.TempDir()
	run(t, "umoci", "unpack", "--image", orig+":v1.0.0", filepath.Join(tmp, "a"))
	run(t, "umoci", "unpack", "--image", out+":v1.0.0", filepath.Join(tmp, "b"))
	before, after := tree(t, filepath.Join(tmp, "a", "rootfs")), tree(t, filepath.Join(tmp, "b", "rootfs"))
	if d := diffFS(before, after, func(p string) bool { return p == "app/lib.zip" }); len(d) > 0 {
		t.Fatalf("unpacked root filesystems differ beyond the removed paths:\n%s", strings.Join(d, "\n"))
	}
}
