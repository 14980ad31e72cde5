package purge_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/registry"
)

// pushBuilt pushes a fixture image (layers, config, manifest) under tag ("" =
// by digest only).
func pushBuilt(t testing.TB, ctx context.Context, repo *registry.Repo, b *fixture.Built, tag string) image.Descriptor {
	t.Helper()
	for _, l := range b.Layers {
		registrytest.PushBlob(t, ctx, repo, l.MediaType, l.Bytes)
	}
	registrytest.PushBlob(t, ctx, repo, b.Config.MediaType, b.ConfigBytes)
	return registrytest.PushManifest(t, ctx, repo, tag, b.Manifest.MediaType, b.ManifestBytes)
}

// pushIndex pushes an OCI index of the given entries under tag.
func pushIndex(t testing.TB, ctx context.Context, repo *registry.Repo, tag string, entries ...image.Descriptor) image.Descriptor {
	t.Helper()
	raw, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: entries})
	return registrytest.PushManifest(t, ctx, repo, tag, image.MediaTypeOCIIndex, raw)
}

// The issue's repository: latest, v1.0.0, v1.1.0, stable share base layers;
// debug-42 has its own config and a secret layer.
var (
	baseLayers = []fixture.Layer{
		{Files: []fixture.File{{Path: "etc/os-release", Body: []byte("ID=strata-test\n")}}, CreatedBy: "ADD rootfs"},
		{Files: []fixture.File{{Path: "usr/lib/libshared.so", Body: bytes.Repeat([]byte("lib"), 100)}}, CreatedBy: "RUN install libs"},
	}
	app10  = fixture.Layer{Files: []fixture.File{{Path: "app/bin", Body: []byte("app 1.0")}}, CreatedBy: "COPY app"}
	app11  = fixture.Layer{Files: []fixture.File{{Path: "app/bin", Body: []byte("app 1.1")}}, CreatedBy: "COPY app"}
	secret = fixture.Layer{Files: []fixture.File{{Path: "root/.aws/credentials", Body: []byte("[default]\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")}}, CreatedBy: "COPY credentials"}
)

func layers(ls ...fixture.Layer) []fixture.Layer {
	return append(append([]fixture.Layer{}, baseLayers...), ls...)
}

type repoFixture struct {
	repo    *registry.Repo
	name    string
	tags    map[string]image.Digest // every tag pushed
	debug   *fixture.Built
	v11     *fixture.Built
	v10     *fixture.Built
	secretL image.Digest
}

func pushIssueRepo(t testing.TB, ctx context.Context, reg *registrytest.Registry, name string) *repoFixture {
	t.Helper()
	repo := reg.Repo(t, ctx, name)
	f := &repoFixture{repo: repo, name: reg.Host + "/" + name, tags: map[string]image.Digest{}}
	f.v10 = fixture.Build(t, fixture.Image{Layers: layers(app10), Labels: map[string]string{"version": "1.0.0"}})
	f.v11 = fixture.Build(t, fixture.Image{Layers: layers(app11), Labels: map[string]string{"version": "1.1.0"}})
	f.debug = fixture.Build(t, fixture.Image{Layers: layers(app11, secret), Labels: map[string]string{"version": "debug-42"}, Env: []string{"DEBUG=1"}})
	f.secretL = f.debug.Layers[len(f.debug.Layers)-1].Digest
	for tag, b := range map[string]*fixture.Built{"v1.0.0": f.v10, "stable": f.v10, "v1.1.0": f.v11, "latest": f.v11, "debug-42": f.debug} {
		f.tags[tag] = pushBuilt(t, ctx, repo, b, tag).Digest
	}
	return f
}

// gone asserts that a manifest or blob is not retrievable by digest (HEAD and
// GET answer 404).
func assertManifestGone(t testing.TB, ctx context.Context, repo purge.Repository, d image.Digest) {
	t.Helper()
	if _, err := repo.HeadManifest(ctx, string(d)); !errors.Is(err, content.ErrNotFound) {
		t.Errorf("manifest %s: HEAD err %v, want not found", d, err)
	}
	if _, _, err := repo.GetManifest(ctx, string(d)); !errors.Is(err, content.ErrNotFound) {
		t.Errorf("manifest %s: GET err %v, want not found", d, err)
	}
}

func assertBlobGone(t testing.TB, ctx context.Context, repo purge.Repository, d image.Digest) {
	t.Helper()
	if _, err := repo.HeadBlob(ctx, d); !errors.Is(err, content.ErrNotFound) {
		t.Errorf("blob %s: HEAD err %v, want not found", d, err)
	}
	rc, err := repo.GetBlob(ctx, image.Descriptor{Digest: d})
	if err == nil {
		n, _ := io.Copy(io.Discard, rc)
		rc.Close()
		t.Errorf("blob %s: GET answered 200 (%d bytes), want not found", d, n)
	} else if !errors.Is(err, content.ErrNotFound) {
		t.Errorf("blob %s: GET err %v, want not found", d, err)
	}
}

// assertPullable walks a tag completely with the client: it must resolve to
// want, and every manifest and blob below must come back with the right
// digest. When get is given, only blobs it accepts are fetched and hashed;
// the others are HEAD-checked (the registry must still serve them).
func assertPullable(t testing.TB, ctx context.Context, repo purge.Repository, tag string, want image.Digest, get ...func(image.Digest) bool) {
	t.Helper()
	d, err := repo.HeadManifest(ctx, tag)
	if err != nil {
		t.Errorf("tag %s: %v", tag, err)
		return
	}
	if d.Digest != want {
		t.Errorf("tag %s resolves to %s, want %s", tag, d.Digest, want)
		return
	}
	var walk func(d image.Digest)
	walk = func(d image.Digest) {
		desc, raw, err := repo.GetManifest(ctx, string(d))
		if err != nil {
			t.Errorf("tag %s: manifest %s: %v", tag, d, err)
			return
		}
		p, err := image.ParseManifest(desc.MediaType, raw)
		if err != nil {
			return
		}
		for _, c := range p.Children() {
			if p.Manifest != nil && p.Manifest.Subject != nil && c.Digest == p.Manifest.Subject.Digest {
				continue
			}
			if image.IsManifest(c.MediaType) {
				walk(c.Digest)
				continue
			}
			if len(get) > 0 && !get[0](c.Digest) {
				if _, err := repo.HeadBlob(ctx, c.Digest); err != nil {
					t.Errorf("tag %s: blob %s: %v", tag, c.Digest, err)
				}
				continue
			}
			rc, err := repo.GetBlob(ctx, c)
			if err != nil {
				t.Errorf("tag %s: blob %s: %v", tag, c.Digest, err)
				continue
			}
			h := sha256.New()
			_, err = io.Copy(h, rc)
			rc.Close()
			if err != nil || image.FromSum(h.Sum(nil)) != c.Digest {
				t.Errorf("tag %s: blob %s: bad body (%v)", tag, c.Digest, err)
			}
		}
	}
	walk(want)
}

// skopeoPull copies ref to an OCI layout with skopeo and returns the digest
// the layout recorded.
func skopeoPull(t testing.TB, ctx context.Context, reg *registrytest.Registry, src string) image.Digest {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	registrytest.PullLayout(t, ctx, reg, src, dir, "pulled")
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ix image.Index
	if err := json.Unmarshal(raw, &ix); err != nil || len(ix.Manifests) == 0 {
		t.Fatalf("layout index: %v %s", err, raw)
	}
	return ix.Manifests[0].Digest
}

// quietSettle is the wait after the blob deletes in tests where no other
// client writes: nothing can be in flight.
const quietSettle = 10 * time.Millisecond

// propSettle is the wait in the property test, whose writers push during
// every purge: long enough for a push the registry validated before a
// DELETE to be committed, on a loaded 2-core machine with -race.
const propSettle = 200 * time.Millisecond

// counting wraps a Repository, counts calls and fails every call after
// limit (when limit > 0) as a crash would: the request is never sent.
type counting struct {
	purge.Repository
	n     atomic.Int64
	limit int64
}

var errAborted = errors.New("aborted by test")

func (c *counting) tick() error {
	if n := c.n.Add(1); c.limit > 0 && n > c.limit {
		return errAborted
	}
	return nil
}

func (c *counting) DeleteManifest(ctx context.Context, ref string) error {
	if err := c.tick(); err != nil {
		return err
	}
	return c.Repository.DeleteManifest(ctx, ref)
}

func (c *counting) DeleteBlob(ctx context.Context, d image.Digest) error {
	if err := c.tick(); err != nil {
		return err
	}
	return c.Repository.DeleteBlob(ctx, d)
}

func (c *counting) HeadManifest(ctx context.Context, ref string) (image.Descriptor, error) {
	if err := c.tick(); err != nil {
		return image.Descriptor{}, err
	}
	return c.Repository.HeadManifest(ctx, ref)
}

func (c *counting) PutManifest(ctx context.Context, tag, mt string, raw []byte) (image.Digest, error) {
	if err := c.tick(); err != nil {
		return "", err
	}
	return c.Repository.PutManifest(ctx, tag, mt, raw)
}

func (c *counting) PutBlob(ctx context.Context, d image.Digest, size int64, body io.Reader) error {
	if err := c.tick(); err != nil {
		return err
	}
	return c.Repository.PutBlob(ctx, d, size, body)
}
