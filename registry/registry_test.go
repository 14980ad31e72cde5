package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/stratascan/strata/connerr"
	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source"
)

var kinds = []string{"embedded", "debian"}

func start(t testing.TB, kind string, o registrytest.Options) *registrytest.Registry {
	t.Helper()
	if kind == "debian" {
		return registrytest.StartDebian(t, o)
	}
	return registrytest.NewEmbedded(t, o)
}

func newClient(t testing.TB, o registry.Options) *registry.Client {
	t.Helper()
	c, err := registry.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func hello(s string) fixture.Image {
	return fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "etc/hello", Body: []byte(s)}}}}}
}

// TestAuth: htpasswd Basic auth over TLS with the test CA, on distribution
// v3 (embedded) and 2.8 (Debian): good credentials read and write; a wrong
// password and anonymous access fail with ErrUnauthorized and a message
// that names the fix; a client without the CA fails on the certificate
// without retrying; a plain-HTTP registry is refused unless Insecure.
func TestAuth(t *testing.T) {
	ctx := context.Background()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := start(t, kind, registrytest.Options{TLS: true, Auth: true})
			repo := r.Repo(t, ctx, "auth/app")
			m, _ := registrytest.PushImage(t, ctx, repo, "v1", "", "", []byte("layer"))

			cases := []struct {
				name     string
				opts     func(o *registry.Options)
				wantErr  error
				wantCode int
				wantMsg  string
			}{
				{name: "good credentials", opts: func(o *registry.Options) {}},
				{name: "wrong password", opts: func(o *registry.Options) { o.Password = "wrong" },
					wantErr: registry.ErrUnauthorized, wantCode: 401, wantMsg: "check the credentials given, or run docker login"},
				{name: "anonymous", opts: func(o *registry.Options) { o.Username, o.Password = "", "" },
					wantErr: registry.ErrUnauthorized, wantCode: 401, wantMsg: "authentication required"},
				{name: "unknown CA", opts: func(o *registry.Options) { o.CAFile = "" }, wantMsg: "certificate"},
				{name: "skip verify", opts: func(o *registry.Options) { o.CAFile = ""; o.SkipTLSVerify = true }},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					o := r.ClientOptions()
					tc.opts(&o)
					c := newClient(t, o)
					var err error
					var d image.Descriptor
					if rp, rerr := c.Repo(ctx, r.Host+"/auth/app"); rerr != nil {
						err = rerr
					} else {
						d, err = rp.HeadManifest(ctx, "v1")
					}
					if tc.wantMsg == "" {
						if err != nil {
							t.Fatalf("HeadManifest: %v", err)
						}
						if d.Digest != m.Digest {
							t.Fatalf("digest %s, want %s", d.Digest, m.Digest)
						}
						return
					}
					if err == nil {
						t.Fatalf("no error, want one containing %q", tc.wantMsg)
					}
					t.Logf("error: %v", err)
					if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
						t.Fatalf("error %v is not %v", err, tc.wantErr)
					}
					if tc.wantCode != 0 {
						var se *registry.StatusError
						if !errors.As(err, &se) || se.StatusCode != tc.wantCode {
							t.Fatalf("error %v: want a StatusError %d", err, tc.wantCode)
						}
					}
					if !strings.Contains(err.Error(), tc.wantMsg) {
						t.Fatalf("error %q lacks %q", err, tc.wantMsg)
					}
				})
			}
		})
	}
	t.Run("plain http refused without Insecure", func(t *testing.T) {
		t.Parallel()
		r := registrytest.NewEmbedded(t, registrytest.Options{})
		o := r.ClientOptions()
		o.Insecure = false
		_, err := newClient(t, o).Repo(ctx, r.Host+"/x")
		if k, _ := connerr.KindOf(err); !errors.Is(err, registry.ErrInsecureRefused) || k != connerr.PlainHTTP || strings.Contains(err.Error(), "--insecure") {
			t.Fatalf("got %v, want ErrInsecureRefused of kind plain HTTP, naming no CLI flag", err)
		}
	})
}

// TestDockerConfigAuth: with no explicit credentials the client reads the
// docker config named by DOCKER_CONFIG (as docker login writes it).
func TestDockerConfigAuth(t *testing.T) {
	ctx := context.Background()
	r := registrytest.NewEmbedded(t, registrytest.Options{TLS: true, Auth: true})
	repo := r.Repo(t, ctx, "cfg")
	registrytest.PushImage(t, ctx, repo, "v1", "", "", []byte("x"))

	dir := t.TempDir()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("DOCKER_CONFIG", dir)
	for _, tc := range []struct {
		name, user, pass string
		wantErr          error
	}{
		{"right", r.Username, r.Password, nil},
		{"wrong", r.Username, "nope", registry.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.Host, base64.StdEncoding.EncodeToString([]byte(tc.user+":"+tc.pass)))
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			o := r.ClientOptions()
			o.Username, o.Password, o.Keychain = "", "", authn.DefaultKeychain
			tags, err := listTags(ctx, newClient(t, o), r.Host+"/cfg")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Tags: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (len(tags) != 1 || tags[0] != "v1") {
				t.Fatalf("tags %v", tags)
			}
		})
	}
}

func listTags(ctx context.Context, c *registry.Client, repo string) ([]string, error) {
	rp, err := c.Repo(ctx, repo)
	if err != nil {
		return nil, err
	}
	return rp.Tags(ctx)
}

// recorder is a pass-through transport that records tag-list requests and
// the Link headers the registry sent back (to prove paging took the Link).
type recorder struct {
	mu    sync.Mutex
	inner http.RoundTripper
	urls  []string
	links []string
	uas   []string
}

func (rc *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rc.inner.RoundTrip(req)
	if err == nil && (strings.Contains(req.URL.Path, "/tags/list") || strings.Contains(req.URL.Path, "/_catalog")) {
		rc.mu.Lock()
		rc.urls = append(rc.urls, req.URL.RequestURI())
		rc.links = append(rc.links, resp.Header.Get("Link"))
		rc.uas = append(rc.uas, req.Header.Get("User-Agent"))
		rc.mu.Unlock()
	}
	return resp, err
}

// TestTagPagination: 7 tags in pages of 2 take 4 requests, following the
// registry's Link header (relative on v3), and come back complete and in
// order; the catalog pages the same way. An existing repository whose tags
// were all deleted lists nil; an unknown one is ErrNotFound.
func TestTagPagination(t *testing.T) {
	ctx := context.Background()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := start(t, kind, registrytest.Options{})
			repo := r.Repo(t, ctx, "pages")
			var want []string
			for i := 0; i < 7; i++ {
				tag := fmt.Sprintf("t%d", i)
				registrytest.PushImage(t, ctx, repo, tag, "", "", []byte("same layer"))
				want = append(want, tag)
			}
			for i := 0; i < 5; i++ {
				registrytest.PushImage(t, ctx, r.Repo(t, ctx, fmt.Sprintf("cat/r%d", i)), "v", "", "", []byte("c"))
			}
			rec := &recorder{inner: http.DefaultTransport}
			o := r.ClientOptions()
			o.Transport = rec
			o.TagPageSize = 2
			o.UserAgent = "strata-test/1"
			c := newClient(t, o)
			got, err := listTags(ctx, c, r.Host+"/pages")
			if err != nil {
				t.Fatalf("Tags: %v (requests %q, links %q)", err, rec.urls, rec.links)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("tags %v, want %v", got, want)
			}
			// v3 honours n and sends relative Links; 2.8 ignores n and
			// returns every tag at once, without a Link.
			wantPages := map[string]int{"embedded": 4, "debian": 1}[kind]
			if len(rec.urls) != wantPages {
				t.Fatalf("%d tag requests (%v), want %d", len(rec.urls), rec.urls, wantPages)
			}
			if !strings.HasPrefix(rec.uas[0], "strata-test/1") {
				t.Fatalf("User-Agent %q", rec.uas[0])
			}
			for i, l := range rec.links[:wantPages-1] {
				if !strings.Contains(l, `rel="next"`) || !strings.HasPrefix(l, "</v2/") {
					t.Fatalf("page %d: Link %q is not a relative rel=next link", i, l)
				}
			}

			cat, err := c.Catalog(ctx, r.Host)
			if err != nil {
				t.Fatalf("Catalog: %v", err)
			}
			if len(cat) != 6 || !sort.StringsAreSorted(cat) {
				t.Fatalf("catalog %v", cat)
			}

			_, err = listTags(ctx, c, r.Host+"/does/not/exist")
			if !errors.Is(err, content.ErrNotFound) {
				t.Fatalf("unknown repo: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestEmptyRepoTags: on distribution v3 untagging the last tag leaves an
// existing repository that lists no tags: nil, no error.
func TestEmptyRepoTags(t *testing.T) {
	ctx := context.Background()
	r := registrytest.NewEmbedded(t, registrytest.Options{})
	repo := r.Repo(t, ctx, "empty")
	registrytest.PushImage(t, ctx, repo, "only", "", "", []byte("e"))
	if err := repo.DeleteManifest(ctx, "only"); err != nil {
		t.Fatal(err)
	}
	tags, err := repo.Tags(ctx)
	if err != nil || tags != nil {
		t.Fatalf("Tags = %v, %v; want nil, nil", tags, err)
	}
}

// TestManifestKinds: OCI index, OCI manifest, Docker manifest list and
// Docker v2 manifest, pushed with skopeo from OCI layouts, come back with
// their own media type and digest from HEAD and GET (by tag and digest) and
// walk completely through the Store with source.Load.
func TestManifestKinds(t *testing.T) {
	ctx := context.Background()
	layout := filepath.Join(t.TempDir(), "layout")
	arm := hello("arm")
	arm.Arch = "arm64"
	dArm := arm
	dArm.DockerMediaTypes = true
	dAmd := hello("amd docker")
	dAmd.DockerMediaTypes = true
	// skopeo 1.9 reads only OCI-typed entries from a layout, so Docker
	// kinds go through the strata client (PushFixture) instead.
	type kindSpec struct {
		imgs   []fixture.Image
		skopeo bool
		want   image.Descriptor
	}
	kindsOf := map[string]*kindSpec{
		"oci-manifest":    {imgs: []fixture.Image{hello("oci")}, skopeo: true},
		"oci-index":       {imgs: []fixture.Image{hello("amd"), arm}, skopeo: true},
		"docker-manifest": {imgs: []fixture.Image{dAmd}},
		"docker-list":     {imgs: []fixture.Image{dAmd, dArm}},
	}
	wantType := map[string]string{
		"oci-manifest": image.MediaTypeOCIManifest, "docker-manifest": image.MediaTypeDockerManifest,
		"oci-index": image.MediaTypeOCIIndex, "docker-list": image.MediaTypeDockerList,
	}
	for tag, k := range kindsOf {
		if !k.skopeo {
			continue
		}
		if len(k.imgs) == 1 {
			k.want = fixture.WriteLayout(t, layout, tag, k.imgs[0])
		} else {
			k.want = fixture.WriteIndex(t, layout, tag, k.imgs...)
		}
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := start(t, kind, registrytest.Options{TLS: true})
			c := r.Client(t)
			for tag, k := range kindsOf {
				repo := r.Repo(t, ctx, "kinds")
				want := k.want
				if k.skopeo {
					registrytest.PushLayout(t, ctx, r, layout, tag, "kinds:"+tag)
				} else {
					want, _ = registrytest.PushFixture(t, ctx, repo, tag, k.imgs...)
				}
				for _, ref := range []string{tag, string(want.Digest)} {
					hd, err := repo.HeadManifest(ctx, ref)
					if err != nil {
						t.Fatalf("%s: HEAD %s: %v", tag, ref, err)
					}
					gd, raw, err := repo.GetManifest(ctx, ref)
					if err != nil {
						t.Fatalf("%s: GET %s: %v", tag, ref, err)
					}
					for _, d := range []image.Descriptor{hd, gd} {
						if d.MediaType != wantType[tag] || d.Digest != want.Digest || d.Size != want.Size {
							t.Fatalf("%s via %s: got %s %s %d, want %s %s %d", tag, ref, d.MediaType, d.Digest, d.Size, wantType[tag], want.Digest, want.Size)
						}
					}
					if image.FromBytes(raw) != want.Digest {
						t.Fatalf("%s: body does not hash to its digest", tag)
					}
				}
				st, err := c.Open(ctx, r.Ref("kinds", ":"+tag))
				if err != nil {
					t.Fatal(err)
				}
				root, err := source.Load(ctx, st, nil)
				if err != nil {
					t.Fatalf("%s: source.Load through the registry store: %v", tag, err)
				}
				imgs, err := source.Select(root, nil, true)
				if err != nil {
					t.Fatalf("%s: Select: %v", tag, err)
				}
				for _, im := range imgs {
					for _, l := range im.Layers {
						rc, err := st.Open(ctx, l.Descriptor)
						if err != nil {
							t.Fatal(err)
						}
						if _, err := io.Copy(io.Discard, content.Verify(rc, l.Descriptor, "layer")); err != nil {
							t.Fatalf("%s: layer %s: %v", tag, l.Descriptor.Digest, err)
						}
						rc.Close()
					}
				}
			}
		})
	}
}

// TestStore: the content.Store opened from "host/repo:tag", "@digest" and
// "tag@digest" resolves the same root; Name, Tags and WithTag work.
func TestStore(t *testing.T) {
	ctx := context.Background()
	r := registrytest.NewEmbedded(t, registrytest.Options{})
	repo := r.Repo(t, ctx, "store/app")
	m1, _ := registrytest.PushImage(t, ctx, repo, "v1", "", "", []byte("one"))
	m2, _ := registrytest.PushImage(t, ctx, repo, "v2", "", "", []byte("two"))
	c := r.Client(t)
	for _, tc := range []struct {
		ref, name string
		want      image.Digest
	}{
		{r.Ref("store/app", ":v1"), r.Ref("store/app", ":v1"), m1.Digest},
		{"docker://" + r.Ref("store/app", ":v2"), r.Ref("store/app", ":v2"), m2.Digest},
		{r.Ref("store/app", "@"+string(m2.Digest)), r.Ref("store/app", "@"+string(m2.Digest)), m2.Digest},
		{r.Ref("store/app", ":v1@"+string(m2.Digest)), r.Ref("store/app", "@"+string(m2.Digest)), m2.Digest},
	} {
		st, err := c.Open(ctx, tc.ref)
		if err != nil {
			t.Fatalf("Open %s: %v", tc.ref, err)
		}
		d, err := st.Root(ctx)
		if err != nil || d.Digest != tc.want || d.MediaType != image.MediaTypeOCIManifest {
			t.Fatalf("Root of %s = %+v, %v; want %s", tc.ref, d, err, tc.want)
		}
		if st.Name() != tc.name {
			t.Fatalf("Name %q, want %q", st.Name(), tc.name)
		}
	}
	st, _ := c.Open(ctx, r.Ref("store/app", ":v1"))
	tags, err := st.Tags(ctx)
	if err != nil || strings.Join(tags, ",") != "v1,v2" {
		t.Fatalf("Tags %v %v", tags, err)
	}
	other, err := st.WithTag(ctx, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := other.Root(ctx); err != nil || d.Digest != m2.Digest {
		t.Fatalf("WithTag root %v %v", d, err)
	}
	if _, err := c.Open(ctx, r.Ref("store/app", ":missing")); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Open(ctx, r.Ref("store/app", ":missing"))
	if _, err := st.Root(ctx); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("missing tag: %v", err)
	}
	for _, bad := range []string{r.Host + "/Store/App:v1", r.Host + "/a@sha256:12", ""} {
		if _, err := c.Open(ctx, bad); !errors.Is(err, content.ErrBadReference) {
			t.Fatalf("Open(%q) = %v, want ErrBadReference", bad, err)
		}
	}
}

// TestParseReference: docker.io normalisation and the ref forms skopeo users type.
func TestParseReference(t *testing.T) {
	for _, tc := range []struct{ in, repo, id string }{
		{"alpine", "index.docker.io/library/alpine", "latest"},
		{"docker.io/alpine:3", "index.docker.io/library/alpine", "3"},
		{"me/app:1", "index.docker.io/me/app", "1"},
		{"127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c", "t"},
		{"localhost:5000/x@sha256:" + strings.Repeat("a", 64), "localhost:5000/x", "sha256:" + strings.Repeat("a", 64)},
		{"docker://ghcr.io/o/r:tag@sha256:" + strings.Repeat("b", 64), "ghcr.io/o/r", "sha256:" + strings.Repeat("b", 64)},
	} {
		repo, id, err := registry.ParseReference(tc.in, false)
		if err != nil || repo != tc.repo || id != tc.id {
			t.Errorf("ParseReference(%q) = %q, %q, %v; want %q, %q", tc.in, repo, id, err, tc.repo, tc.id)
		}
	}
}

// TestNotFound: unknown tags, digests and blobs are content.ErrNotFound
// with a StatusError carrying the registry's error code.
func TestNotFound(t *testing.T) {
	ctx := context.Background()
	r := registrytest.NewEmbedded(t, registrytest.Options{})
	repo := r.Repo(t, ctx, "nf")
	registrytest.PushImage(t, ctx, repo, "v1", "", "", []byte("x"))
	missing := image.FromBytes([]byte("missing"))
	for name, f := range map[string]func() error{
		"head tag":      func() error { _, err := repo.HeadManifest(ctx, "nope"); return err },
		"get tag":       func() error { _, _, err := repo.GetManifest(ctx, "nope"); return err },
		"get digest":    func() error { _, _, err := repo.GetManifest(ctx, string(missing)); return err },
		"head blob":     func() error { _, err := repo.HeadBlob(ctx, missing); return err },
		"get blob":      func() error { _, err := repo.GetBlob(ctx, image.Descriptor{Digest: missing, Size: 3}); return err },
		"delete digest": func() error { return repo.DeleteManifest(ctx, string(missing)) },
	} {
		err := f()
		if !errors.Is(err, content.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
		var se *registry.StatusError
		if !errors.As(err, &se) || se.StatusCode != 404 {
			t.Errorf("%s: %v is not a 404 StatusError", name, err)
		}
		if strings.HasPrefix(name, "get") && len(se.Codes) == 0 {
			t.Errorf("%s: no distribution error code in %v", name, err)
		}
	}
}

// TestTamperedBlob: a blob altered on the registry's disk streams back and
// content.Verify over GetBlob reports ErrDigestMismatch; a truncated one
// ErrSizeMismatch.
func TestTamperedBlob(t *testing.T) {
	ctx := context.Background()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := start(t, kind, registrytest.Options{})
			repo := r.Repo(t, ctx, "tamper")
			_, layers := registrytest.PushImage(t, ctx, repo, "v1", "", "", []byte("original layer bytes"), []byte("second layer, to be truncated"))
			path := func(d image.Digest) string {
				return filepath.Join(r.Root, "docker/registry/v2/blobs/sha256", d.Hex()[:2], d.Hex(), "data")
			}
			if err := os.WriteFile(path(layers[0].Digest), []byte("ORIGINAL LAYER BYTES"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path(layers[1].Digest), []byte("second"), 0o644); err != nil {
				t.Fatal(err)
			}
			for i, want := range []error{content.ErrDigestMismatch, content.ErrSizeMismatch} {
				rc, err := repo.GetBlob(ctx, layers[i])
				if err != nil {
					t.Fatalf("GetBlob: %v", err)
				}
				_, err = io.Copy(io.Discard, content.Verify(rc, layers[i], "layer"))
				rc.Close()
				if !errors.Is(err, want) {
					t.Fatalf("layer %d: %v, want %v", i, err, want)
				}
			}
		})
	}
}

// TestDelete: status-code semantics of DELETE on distribution v3 and 2.8,
// with delete enabled and disabled.
func TestDelete(t *testing.T) {
	ctx := context.Background()
	type step struct {
		what    string // "tag", "digest", "digest-again", "blob"
		wantErr error
		code    int
	}
	cases := []struct {
		kind     string
		disabled bool
		steps    []step
	}{
		{"embedded", false, []step{{"tag", nil, 0}, {"digest", nil, 0}, {"digest-again", content.ErrNotFound, 404}, {"blob", nil, 0}}},
		{"debian", false, []step{{"tag", registry.ErrUnsupported, 400}, {"digest", nil, 0}, {"digest-again", content.ErrNotFound, 404}, {"blob", nil, 0}}},
		{"embedded", true, []step{{"tag", registry.ErrUnsupported, 405}, {"digest", registry.ErrUnsupported, 405}, {"blob", registry.ErrUnsupported, 405}}},
		{"debian", true, []step{{"tag", registry.ErrUnsupported, 405}, {"digest", registry.ErrUnsupported, 405}, {"blob", registry.ErrUnsupported, 405}}},
	}
	for _, tc := range cases {
		name := tc.kind
		if tc.disabled {
			name += "/delete-disabled"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := start(t, tc.kind, registrytest.Options{DeleteDisabled: tc.disabled})
			repo := r.Repo(t, ctx, "del")
			m, layers := registrytest.PushImage(t, ctx, repo, "v1", "", "", []byte("to delete"))
			registrytest.PushManifest(t, ctx, repo, "v1-alias", m.MediaType, mustGet(t, repo, string(m.Digest)))
			for _, s := range tc.steps {
				var err error
				switch s.what {
				case "tag":
					err = repo.DeleteManifest(ctx, "v1")
				case "digest", "digest-again":
					err = repo.DeleteManifest(ctx, string(m.Digest))
				case "blob":
					err = repo.DeleteBlob(ctx, layers[0].Digest)
				}
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
					t.Fatalf("%s: %v, want %v", s.what, err, s.wantErr)
				}
				var se *registry.StatusError
				if s.code != 0 && (!errors.As(err, &se) || se.StatusCode != s.code) {
					t.Fatalf("%s: %v, want status %d", s.what, err, s.code)
				}
				if s.wantErr == registry.ErrUnsupported && !strings.Contains(err.Error(), "delete disabled or not supported") {
					t.Fatalf("%s: message %q does not explain", s.what, err)
				}
				// What is left.
				switch {
				case s.what == "tag" && s.wantErr == nil:
					if _, err := repo.HeadManifest(ctx, "v1"); !errors.Is(err, content.ErrNotFound) {
						t.Fatalf("tag still resolves after untag: %v", err)
					}
					if _, err := repo.HeadManifest(ctx, string(m.Digest)); err != nil {
						t.Fatalf("untag removed the manifest: %v", err)
					}
				case s.what == "digest" && s.wantErr == nil:
					for _, ref := range []string{"v1", "v1-alias", string(m.Digest)} {
						if _, _, err := repo.GetManifest(ctx, ref); !errors.Is(err, content.ErrNotFound) {
							t.Fatalf("%s still served after delete by digest: %v", ref, err)
						}
					}
				case s.what == "blob" && s.wantErr == nil:
					if _, err := repo.HeadBlob(ctx, layers[0].Digest); !errors.Is(err, content.ErrNotFound) {
						t.Fatalf("blob still linked: %v", err)
					}
				}
			}
		})
	}
}

func mustGet(t testing.TB, repo *registry.Repo, ref string) []byte {
	t.Helper()
	_, raw, err := repo.GetManifest(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestReferrers: neither distribution has the referrers API (404 page not
// found), so Referrers reads the sha256-<hex> fallback tag, filters by
// artifactType, and reports "none" when the tag is absent.
func TestReferrers(t *testing.T) {
	ctx := context.Background()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := start(t, kind, registrytest.Options{})
			repo := r.Repo(t, ctx, "refs")
			subj, _ := registrytest.PushImage(t, ctx, repo, "v1", "", "", []byte("subject"))
			// What the registry itself says: no referrers API at all.
			resp, err := http.Get(r.URL() + "/v2/refs/referrers/" + string(subj.Digest))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 404 || !strings.Contains(string(body), "404 page not found") {
				t.Fatalf("referrers endpoint: %s %q, want 404 page not found", resp.Status, body)
			}
			refs, viaAPI, err := repo.Referrers(ctx, subj.Digest, "")
			if err != nil || viaAPI || refs != nil {
				t.Fatalf("no referrers yet: %v %v %v", refs, viaAPI, err)
			}
			empty := registrytest.PushBlob(t, ctx, repo, image.MediaTypeOCIEmpty, []byte("{}"))
			sig := registrytest.PushBlob(t, ctx, repo, "application/vnd.dev.cosign.simplesigning.v1+json", []byte(`{"sig":1}`))
			art, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": image.MediaTypeOCIManifest,
				"artifactType": "application/vnd.example.sig", "config": empty, "layers": []image.Descriptor{sig}, "subject": subj})
			ad := registrytest.PushManifest(t, ctx, repo, "", image.MediaTypeOCIManifest, art)
			ad.ArtifactType = "application/vnd.example.sig"
			ix, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{ad}})
			registrytest.PushManifest(t, ctx, repo, registry.ReferrersTag(subj.Digest), image.MediaTypeOCIIndex, ix)
			for _, tc := range []struct {
				filter string
				n      int
			}{{"", 1}, {"application/vnd.example.sig", 1}, {"application/other", 0}} {
				refs, viaAPI, err := repo.Referrers(ctx, subj.Digest, tc.filter)
				if err != nil || viaAPI || len(refs) != tc.n {
					t.Fatalf("filter %q: %v %v %v, want %d via fallback", tc.filter, refs, viaAPI, err, tc.n)
				}
				if tc.n == 1 && refs[0].Digest != ad.Digest {
					t.Fatalf("referrer %s, want %s", refs[0].Digest, ad.Digest)
				}
			}
		})
	}
}

// TestPutBlobMount: an upload streams a non-seekable reader; a blob is
// mounted across repositories of the same registry.
func TestPutBlobMount(t *testing.T) {
	ctx := context.Background()
	r := registrytest.NewEmbedded(t, registrytest.Options{})
	a, b := r.Repo(t, ctx, "a"), r.Repo(t, ctx, "b")
	data := bytes.Repeat([]byte("blob "), 100000)
	d := image.FromBytes(data)
	if err := a.PutBlob(ctx, d, int64(len(data)), io.MultiReader(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	hd, err := a.HeadBlob(ctx, d)
	if err != nil || hd.Size != int64(len(data)) {
		t.Fatalf("HeadBlob %v %v", hd, err)
	}
	ok, err := b.MountBlob(ctx, d, "a")
	if err != nil || !ok {
		t.Fatalf("MountBlob %v %v", ok, err)
	}
	if _, err := b.HeadBlob(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := a.PutBlob(ctx, image.FromBytes([]byte("other")), 5, strings.NewReader("wrong")); err == nil {
		t.Fatal("upload with a wrong digest succeeded")
	}
}
