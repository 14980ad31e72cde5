package fleettest_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fleettest"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/secret"
)

// TestGenerate checks the e2e fleet's shape: counts, bases shared by
// digest, one manifest per image, secrets in distinct repositories, and
// that strata's own engine finds every planted secret with the expected
// rule and fingerprint (so a fleet test that misses one fails for the
// service, not for the fixture).
func TestGenerate(t *testing.T) {
	f := fleettest.Generate(t, fleettest.E2E)
	if len(f.Images) != 50 || len(f.Repos()) != 10 || len(f.Bases) != 3 || len(f.Secrets) != 5 {
		t.Fatalf("got %d images, %d repos, %d bases, %d secrets", len(f.Images), len(f.Repos()), len(f.Bases), len(f.Secrets))
	}
	if n, want := len(f.LayerDigests()), 3*2+50; n != want {
		t.Fatalf("%d distinct layers, want %d (2 per base + 1 per image)", n, want)
	}
	manifests := map[image.Digest]bool{}
	for _, im := range f.Images {
		manifests[im.Built.Manifest.Digest] = true
		base := f.Bases[im.Base]
		for k, bl := range base.Blobs {
			if im.Built.Layers[k].Digest != bl.Digest {
				t.Fatalf("%s:%s layer %d is %s, not its base's %s", im.Repo, im.Tag, k, im.Built.Layers[k].Digest, bl.Digest)
			}
		}
	}
	if len(manifests) != len(f.Images) {
		t.Fatalf("%d distinct manifests for %d images", len(manifests), len(f.Images))
	}
	eng, err := secret.New(secret.Options{})
	if err != nil {
		t.Fatal(err)
	}
	repos := map[string]bool{}
	for _, s := range f.Secrets {
		im := f.Images[s.Image]
		if im.Secret < 0 || f.Secrets[im.Secret].Value != s.Value {
			t.Fatalf("secret %s not linked to image %d", s.Rule, s.Image)
		}
		repos[im.Repo] = true
		var found bool
		_, err := eng.ScanFile(context.Background(), s.Path, int64(len(s.Content)), bytes.NewReader([]byte(s.Content)), func(m secret.Match) {
			if m.RuleID == s.Rule && m.Fingerprint == s.Fingerprint {
				found = true
			}
		})
		if err != nil || !found {
			t.Fatalf("engine did not find the planted %s in %s (err %v)", s.Rule, s.Path, err)
		}
	}
	if len(repos) != len(f.Secrets) {
		t.Fatalf("secrets in %d repositories, want %d", len(repos), len(f.Secrets))
	}
	again := fleettest.Generate(t, fleettest.E2E)
	if again.Images[7].Built.Manifest.Digest != f.Images[7].Built.Manifest.Digest {
		t.Fatalf("Generate is not deterministic")
	}
}

// TestPush pushes a small fleet with skopeo to the Debian 2.8 registry
// (TLS + htpasswd) and through the API to the embedded one, and reads every
// tag back by digest.
func TestPush(t *testing.T) {
	ctx := context.Background()
	f := fleettest.Generate(t, fleettest.Spec{Bases: 2, Images: 6, Repos: 3, Secrets: 2, Seed: 1})
	check := func(t *testing.T, r *registrytest.Registry) {
		for _, im := range f.Images {
			d, err := r.Repo(t, ctx, im.Repo).HeadManifest(ctx, im.Tag)
			if err != nil || d.Digest != im.Built.Manifest.Digest {
				t.Fatalf("%s: %v %s, want %s", im.Ref(r.Host), err, d.Digest, im.Built.Manifest.Digest)
			}
		}
	}
	t.Run("skopeo/debian", func(t *testing.T) {
		t.Parallel()
		r := registrytest.StartDebian(t, registrytest.Options{TLS: true, Auth: true})
		dir := filepath.Join(t.TempDir(), "layout")
		f.WriteLayout(t, dir)
		done := fleettest.PushSkopeo(t, ctx, r, dir, f.Images, 3)
		for i, at := range done {
			if at.IsZero() {
				t.Fatalf("no push time for image %d", i)
			}
		}
		check(t, r)
	})
	t.Run("api/embedded", func(t *testing.T) {
		t.Parallel()
		r := registrytest.NewEmbedded(t, registrytest.Options{})
		f.PushAPI(t, ctx, r, 2)
		check(t, r)
	})
}
