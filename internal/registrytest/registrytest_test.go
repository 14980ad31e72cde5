package registrytest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// TestProxy: through the proxy an image pushes and pulls with skopeo
// (upload Locations stay on the proxy), a held request waits for its
// release, and the referrers API lists the manifests with a subject pushed
// through it until they are deleted, filtered by artifactType.
func TestProxy(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"embedded", "debian"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var r *registrytest.Registry
			if kind == "embedded" {
				r = registrytest.NewEmbedded(t, registrytest.Options{TLS: true})
			} else {
				r = registrytest.StartDebian(t, registrytest.Options{TLS: true})
			}
			release := make(chan struct{})
			var held atomic.Int32
			p := r.Proxy(t, registrytest.ProxyOptions{Referrers: true, OnRequest: func(req *http.Request) {
				if req.Method == http.MethodDelete {
					held.Add(1)
					select {
					case <-release:
					case <-req.Context().Done():
					}
				}
			}})
			layout := filepath.Join(t.TempDir(), "layout")
			fixture.WriteLayout(t, layout, "v1", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "etc/hello", Body: []byte("hi\n")}}}}})
			registrytest.PushLayout(t, ctx, p.Registry, layout, "v1", "app:v1")
			registrytest.PullLayout(t, ctx, p.Registry, "app:v1", filepath.Join(t.TempDir(), "pulled"), "v1")
			repo := p.Registry.Repo(t, ctx, "app")
			subj, err := repo.HeadManifest(ctx, "v1")
			if err != nil {
				t.Fatal(err)
			}
			var sigs []image.Digest
			for _, at := range []string{"application/vnd.example.sig", "application/vnd.example.sbom"} {
				empty := registrytest.PushBlob(t, ctx, repo, image.MediaTypeOCIEmpty, []byte("{}"))
				pl := registrytest.PushBlob(t, ctx, repo, "text/plain", []byte(at))
				raw, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, ArtifactType: at,
					Config: empty, Layers: []image.Descriptor{pl}, Subject: &subj})
				sigs = append(sigs, registrytest.PushManifest(t, ctx, repo, "", image.MediaTypeOCIManifest, raw).Digest)
			}
			refs, viaAPI, err := repo.Referrers(ctx, subj.Digest, "")
			if err != nil || !viaAPI || len(refs) != 2 {
				t.Fatalf("referrers: %v %v %+v, want 2 through the API", err, viaAPI, refs)
			}
			refs, _, err = repo.Referrers(ctx, subj.Digest, "application/vnd.example.sbom")
			if err != nil || len(refs) != 1 || refs[0].Digest != sigs[1] {
				t.Fatalf("filtered referrers: %v %+v, want the sbom %s", err, refs, sigs[1])
			}
			done := make(chan error, 1)
			go func() { done <- repo.DeleteManifest(ctx, string(sigs[0])) }()
			for held.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			select {
			case err := <-done:
				t.Fatalf("DELETE finished while held: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatalf("delete: %v", err)
			}
			refs, _, err = repo.Referrers(ctx, subj.Digest, "")
			if err != nil || len(refs) != 1 || refs[0].Digest != sigs[1] {
				t.Fatalf("referrers after the delete: %v %+v, want only %s", err, refs, sigs[1])
			}
			if c := p.Counts(); c[http.MethodDelete] != 1 || c[http.MethodPut] == 0 {
				t.Errorf("counts %v", c)
			}
		})
	}
}
