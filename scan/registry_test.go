package scan

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/source"
)

// pushCacheLayout pushes the BuildKit cache tagged tag in the layout at dir
// as is (blobs, cache config, then the index or manifest), with the strata
// client: skopeo cannot copy an index that lists blobs.
func pushCacheLayout(t *testing.T, ctx context.Context, reg *registrytest.Registry, dir, tag, repo, dest string) {
	t.Helper()
	var ix image.Index
	raw, err := os.ReadFile(dir + "/index.json")
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &ix)
	var root image.Descriptor
	for _, d := range ix.Manifests {
		if d.Annotations[image.AnnotationRefName] == tag {
			root = d
		}
	}
	rootRaw, err := os.ReadFile(fixture.BlobPath(dir, root.Digest))
	if err != nil {
		t.Fatal(err)
	}
	var children []image.Descriptor
	if image.IsIndex(root.MediaType) {
		var cix image.Index
		json.Unmarshal(rootRaw, &cix)
		children = cix.Manifests
	} else {
		var m image.Manifest
		json.Unmarshal(rootRaw, &m)
		children = append([]image.Descriptor{m.Config}, m.Layers...)
	}
	r := reg.Repo(t, ctx, repo)
	for _, c := range children {
		b, err := os.ReadFile(fixture.BlobPath(dir, c.Digest))
		if err != nil {
			t.Fatal(err)
		}
		registrytest.PushBlob(t, ctx, r, c.MediaType, b)
	}
	registrytest.PushManifest(t, ctx, r, dest, root.MediaType, rootRaw)
}

// TestRegistryCacheBesideLatest: an app image whose secret was rm-ed, and
// its BuildKit registry cache in both forms pushed beside it; scanning the
// three tags finds the secret in each, with shared layers walked once.
func TestRegistryCacheBesideLatest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg := registrytest.NewEmbedded(t, registrytest.Options{IndexBlobs: true})
	tok := ghp(60)
	layers := []fixture.Layer{
		{Files: []fixture.File{{Path: "etc/os-release", Body: []byte("ID=debian\n")}}},
		{CreatedBy: "RUN echo $TOKEN > /root/.git-credentials", Files: []fixture.File{{Path: "root/.git-credentials", Body: []byte("https://ci:" + tok + "@github.com\n")}}},
		{CreatedBy: "RUN rm /root/.git-credentials", Files: []fixture.File{{Path: "root/.wh..git-credentials"}}},
	}
	dir := t.TempDir()
	fixture.WriteLayout(t, dir, "latest", fixture.Image{Layers: layers})
	registrytest.PushLayout(t, ctx, reg, dir, "latest", "app:latest")
	fixture.WriteCacheLayout(t, dir, "cache-index", "index", layers)
	pushCacheLayout(t, ctx, reg, dir, "cache-index", "app", "cache")
	fixture.WriteCacheLayout(t, dir, "cache-manifest", "manifest", layers)
	pushCacheLayout(t, ctx, reg, dir, "cache-manifest", "app", "cache-manifest")

	var targets []Target
	for _, tag := range []string{"latest", "cache", "cache-manifest"} {
		ref := reg.Ref("app", ":"+tag)
		st, err := source.Open(ctx, ref, source.Options{Registry: reg.ClientOptions()})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		root, err := source.Load(ctx, st, nil)
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		imgs, err := source.Select(root, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, Target{Ref: ref, Store: st, Root: root, Images: imgs})
	}
	res, err := Run(ctx, targets, Options{Engine: engine(t)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range find(res.Findings, fp(tok)) {
		got[f.Image] = f
	}
	for _, tag := range []string{"latest", "cache", "cache-manifest"} {
		f, ok := got[reg.Ref("app", ":"+tag)]
		if !ok {
			t.Errorf("%s: secret not found; findings %s", tag, dump(res.Findings))
			continue
		}
		if layerIdx(f) != 1 || f.State != overlay.Deleted || hidden(f) != 2 || f.Path != "root/.git-credentials" {
			t.Errorf("%s: %+v", tag, f)
		}
	}
	if got[reg.Ref("app", ":latest")].CreatedBy != "RUN echo $TOKEN > /root/.git-credentials" {
		t.Errorf("createdBy %q", got[reg.Ref("app", ":latest")].CreatedBy)
	}
	if res.Coverage.Layers != 3 || res.Coverage.LayerRefs != 9 {
		t.Errorf("coverage %+v: want the 3 shared layers walked once", res.Coverage)
	}
}
