package registrytest_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
)

// TestRegistries starts every kind of test registry with each TLS/auth
// combination, pushes an image with real skopeo, reads it back with the
// strata client and pulls it again with skopeo.
func TestRegistries(t *testing.T) {
	ctx := context.Background()
	layout := filepath.Join(t.TempDir(), "layout")
	want := fixture.WriteLayout(t, layout, "v1", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "etc/hello", Body: []byte("hi\n")}}}}})
	start := map[string]func(testing.TB, registrytest.Options) *registrytest.Registry{
		"embedded": registrytest.NewEmbedded,
		"debian":   registrytest.StartDebian,
	}
	for _, kind := range []string{"embedded", "debian"} {
		for _, o := range []registrytest.Options{{}, {Auth: true}, {TLS: true, Auth: true}, {Token: true}} {
			name := kind + map[bool]string{true: "/tls", false: "/http"}[o.TLS || o.Token]
			if o.Auth {
				name += "+htpasswd"
			}
			if o.Token {
				name += "/token"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := start[kind](t, o)
				registrytest.PushLayout(t, ctx, r, layout, "v1", "app:v1")
				d, err := r.Repo(t, ctx, "app").HeadManifest(ctx, "v1")
				if err != nil {
					t.Fatalf("HeadManifest: %v", err)
				}
				if d.Digest != want.Digest || d.MediaType != image.MediaTypeOCIManifest {
					t.Fatalf("got %+v, want digest %s (OCI manifest)", d, want.Digest)
				}
				registrytest.PullLayout(t, ctx, r, "app:v1", filepath.Join(t.TempDir(), "pulled"), "v1")
				if (o.TLS || o.Token) && !strings.HasPrefix(r.URL(), "https://") {
					t.Fatalf("URL %s", r.URL())
				}
				if o.Token && len(r.TokenRequests()) == 0 {
					t.Fatalf("no token was requested")
				}
			})
		}
	}
}

// TestGarbageCollectAndRestart deletes an image by digest, collects
// garbage with the registry stopped, and checks the layer is gone while the
// registry serves again on the same address.
func TestGarbageCollectAndRestart(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"embedded", "debian"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var r *registrytest.Registry
			if kind == "embedded" {
				r = registrytest.NewEmbedded(t, registrytest.Options{BlobDescriptorCache: true})
			} else {
				r = registrytest.StartDebian(t, registrytest.Options{BlobDescriptorCache: true})
			}
			repo := r.Repo(t, ctx, "gc")
			m, layers := registrytest.PushImage(t, ctx, repo, "doomed", "", "", []byte("secret layer bytes"))
			if err := repo.DeleteManifest(ctx, string(m.Digest)); err != nil {
				t.Fatalf("delete: %v", err)
			}
			out := r.GarbageCollect(t, true, false)
			if kind == "debian" && !strings.Contains(out, "blobs marked") {
				t.Errorf("garbage-collect output lacks a summary:\n%s", out)
			}
			repo = r.Repo(t, ctx, "gc")
			if _, err := repo.HeadBlob(ctx, layers[0].Digest); err == nil {
				t.Fatalf("layer still served after GC and restart")
			}
		})
	}
}
