package provenance_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/internal/testtool"
	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/registry"
)

func layer(name string, size int) fixture.Layer {
	return fixture.Layer{CreatedBy: "RUN make " + name, Files: []fixture.File{
		{Path: name + "/", Type: '5'},
		{Path: name + "/data", Body: bytes.Repeat([]byte(name+" "), size)},
	}}
}

// squash merges layers into one, as `docker build --squash` or crane
// flatten would (no whiteouts in these fixtures).
func squash(ls ...fixture.Layer) fixture.Layer {
	var out fixture.Layer
	for _, l := range ls {
		out.Files = append(out.Files, l.Files...)
	}
	return out
}

func opener(c *registry.Client) provenance.Opener {
	return func(ctx context.Context, ref string) (content.Store, error) {
		s, err := c.Open(ctx, ref)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// TestCheckOnRegistry pushes bases and apps built with Go's tar writer to a
// real registry with skopeo and checks each case of issue 5.
func TestCheckOnRegistry(t *testing.T) {
	skopeo := testtool.Require(t, "skopeo")
	for _, kind := range []string{"embedded", "debian"} {
		t.Run(kind, func(t *testing.T) {
			var reg *registrytest.Registry
			if kind == "embedded" {
				reg = registrytest.NewEmbedded(t, registrytest.Options{})
			} else {
				testtool.Require(t, "docker-registry")
				reg = registrytest.StartDebian(t, registrytest.Options{})
			}
			testCheckOnRegistry(t, reg, skopeo)
		})
	}
}

func testCheckOnRegistry(t *testing.T, reg *registrytest.Registry, skopeo string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	push := func(tag string, imgs ...fixture.Image) {
		t.Helper()
		lay := filepath.Join(dir, strings.ReplaceAll(tag, ":", "_"))
		if len(imgs) == 1 {
			fixture.WriteLayout(t, lay, "t", imgs[0])
		} else {
			fixture.WriteIndex(t, lay, "t", imgs...)
		}
		registrytest.PushLayout(t, ctx, reg, lay, "t", tag)
	}
	deb1, deb2, debArm := layer("debian-11", 2000), layer("debian-12", 2000), layer("debian-12-arm", 2000)
	py, app, other := layer("python", 500), layer("app", 300), layer("alpine", 1000)

	// Bases: debian:11 (old), debian:12 (multi-arch), python:3 on debian 12.
	push("debian:11", fixture.Image{Layers: []fixture.Layer{deb1}})
	push("debian:12", fixture.Image{Layers: []fixture.Layer{deb2}},
		fixture.Image{Layers: []fixture.Layer{debArm}, Arch: "arm64", Variant: "v8"})
	// python as Docker schema 2 (skopeo converts; layer blobs are kept).
	fixture.WriteLayout(t, filepath.Join(dir, "python"), "t", fixture.Image{Layers: []fixture.Layer{deb2, py}})
	registrytest.Skopeo(t, ctx, skopeo, append(append([]string{"--insecure-policy", "copy", "-q", "--format", "v2s2"}, reg.SkopeoArgs(false)...),
		"oci:"+filepath.Join(dir, "python")+":t", "docker://"+reg.Ref("python", ":3"))...)
	// Apps.
	push("app:ok", fixture.Image{Layers: []fixture.Layer{deb2, py, app}})
	push("app:unapproved", fixture.Image{Layers: []fixture.Layer{other, app}})
	push("app:squashed", fixture.Image{Layers: []fixture.Layer{squash(deb2, py, app)}})
	push("app:old", fixture.Image{Layers: []fixture.Layer{deb1, app}})
	push("app:multi", fixture.Image{Layers: []fixture.Layer{deb2, app}},
		fixture.Image{Layers: []fixture.Layer{other, app}, Arch: "arm64", Variant: "v8"})
	// The same app recompressed by skopeo with zstd, into a second registry:
	// within one registry skopeo 1.9 reuses the gzip blobs it already
	// pushed (its blob info cache maps uncompressed to gzip digests) even
	// when asked for zstd.
	reg2 := registrytest.NewEmbedded(t, registrytest.Options{})
	registrytest.Skopeo(t, ctx, skopeo, append(append([]string{"--insecure-policy", "copy", "-q", "--dest-compress-format", "zstd", "--dest-compress"},
		reg2.SkopeoArgs(false)...), "oci:"+filepath.Join(dir, "app_ok")+":t", "docker://"+reg2.Ref("app", ":ok-zstd"))...)
	// And re-pushed with the layers recompressed at gzip level 9 (crane
	// flatten's level), by the strata client.
	repushGzip9(t, ctx, reg, "app", "ok-gzip9", fixture.Image{Layers: []fixture.Layer{deb2, py, app}})

	c := reg.Client(t)
	st, err := provenance.Open(ctx, filepath.Join(dir, "bases.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, ref := range []string{"debian:11", "debian:12", "python:3"} {
		s, err := c.Open(ctx, reg.Host+"/"+ref)
		if err != nil {
			t.Fatal(err)
		}
		ims, err := provenance.Inspect(ctx, s, provenance.InspectOptions{})
		if err != nil {
			t.Fatalf("inspect base %s: %v", ref, err)
		}
		for _, im := range ims {
			name := ref[:len(ref)-len(":11")]
			if ref == "python:3" {
				name = "python"
			}
			b, err := provenance.NewBase(name, im, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Add(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	bs, _ := st.List(ctx)
	if len(bs) != 4 {
		t.Fatalf("%d bases recorded, want 4 (debian 11, debian 12 x2 platforms, python)", len(bs))
	}
	ix, err := st.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The zstd copy really has other layer digests but the same diff_ids.
	okImgs := inspectRef(t, ctx, c, reg.Ref("app", ":ok"))
	zImgs := inspectRef(t, ctx, c, reg2.Ref("app", ":ok-zstd"))
	g9Imgs := inspectRef(t, ctx, c, reg.Ref("app", ":ok-gzip9"))
	if okImgs[0].Layers[2] == g9Imgs[0].Layers[2] || okImgs[0].Layers[0] == zImgs[0].Layers[0] || fmt.Sprint(okImgs[0].DiffIDs) != fmt.Sprint(zImgs[0].DiffIDs) {
		t.Fatalf("skopeo zstd copy: layers %v vs %v, diff_ids %v vs %v", okImgs[0].Layers, zImgs[0].Layers, okImgs[0].DiffIDs, zImgs[0].DiffIDs)
	}

	type want struct {
		platform string
		status   provenance.Status
		base     string
		k, app   int
	}
	cases := []struct {
		ref  string
		want []want
	}{
		{"app:ok", []want{{"linux/amd64", provenance.StatusOK, "python", 2, 1}}},
		{"app:ok-zstd", []want{{"linux/amd64", provenance.StatusOK, "python", 2, 1}}},
		{"app:ok-gzip9", []want{{"linux/amd64", provenance.StatusOK, "python", 2, 1}}},
		{"app:unapproved", []want{{"linux/amd64", provenance.StatusNoBase, "", 0, 2}}},
		{"app:squashed", []want{{"linux/amd64", provenance.StatusNoBase, "", 0, 1}}},
		{"app:old", []want{{"linux/amd64", provenance.StatusStale, "debian", 1, 1}}},
		{"app:multi", []want{{"linux/amd64", provenance.StatusOK, "debian", 1, 1}, {"linux/arm64/v8", provenance.StatusNoBase, "", 0, 2}}},
		{"python:3", []want{{"linux/amd64", provenance.StatusOK, "python", 2, 0}}},
	}
	var refs []string
	for _, cs := range cases {
		if cs.ref == "app:ok-zstd" {
			refs = append(refs, reg2.Ref(cs.ref, ""))
			continue
		}
		refs = append(refs, reg.Ref(cs.ref, ""))
	}
	rs, err := provenance.CheckAll(ctx, refs, opener(c), ix, provenance.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, cs := range cases {
		for _, w := range cs.want {
			if i >= len(rs) {
				t.Fatalf("only %d results", len(rs))
			}
			r := rs[i]
			i++
			base := ""
			if r.Base != nil {
				base = r.Base.Name
			}
			if r.Platform != w.platform || r.Status != w.status || base != w.base || r.BaseLayers != w.k || r.AppLayers != w.app {
				t.Errorf("%s: got %s %s base=%q %d+%d (%s), want %s %s base=%q %d+%d",
					cs.ref, r.Platform, r.Status, base, r.BaseLayers, r.AppLayers, r.Error, w.platform, w.status, w.base, w.k, w.app)
			}
			if w.status == provenance.StatusStale && (r.Newest == nil || r.Newest.Reference != reg.Host+"/debian:12") {
				t.Errorf("%s: stale result names newest %+v, want debian:12", cs.ref, r.Newest)
			}
		}
	}
	if i != len(rs) {
		t.Errorf("%d results, want %d", len(rs), i)
	}
	// An unreadable image is a result, not an abort.
	rs, err = provenance.CheckAll(ctx, []string{reg.Ref("app", ":nope")}, opener(c), ix, provenance.CheckOptions{})
	if err != nil || len(rs) != 1 || rs[0].Status != provenance.StatusError {
		t.Errorf("missing tag: %+v, %v", rs, err)
	}
}

func inspectRef(t *testing.T, ctx context.Context, c *registry.Client, ref string) []provenance.Image {
	t.Helper()
	s, err := c.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := provenance.Inspect(ctx, s, provenance.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ims
}

// TestSchema1BaseFromDistribution28: a real signed schema 1 manifest, made
// by distribution 2.8's schema2→1 conversion (libtrust-signed with the
// registry's key, throwaway entries for empty steps) and stored back as
// schema 1, is read as a base with the same diff_ids as its schema 2 twin.
func TestSchema1BaseFromDistribution28(t *testing.T) {
	testtool.Require(t, "docker-registry")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := registrytest.StartDebian(t, registrytest.Options{Schema1: true})
	repo := reg.Repo(t, ctx, "debian")
	img := fixture.Image{DockerMediaTypes: true,
		Layers:  []fixture.Layer{layer("rootfs", 3000), layer("apt", 200)},
		History: []fixture.Step{{}, {CreatedBy: "ENV A=b", Empty: true}, {}, {CreatedBy: "CMD bash", Empty: true}}}
	_, built := registrytest.PushFixture(t, ctx, repo, "12", img)
	raw, dg := registrytest.FetchSchema1(t, ctx, reg, "debian", "12")
	if !bytes.Contains(raw, []byte(`"signatures"`)) || !bytes.Contains(raw, []byte(`throwaway`)) {
		t.Fatalf("registry did not produce a signed schema 1 manifest with throwaway entries:\n%s", raw)
	}
	registrytest.PushManifest(t, ctx, repo, "12-s1", "application/vnd.docker.distribution.manifest.v1+prettyjws", raw)

	s, err := reg.Client(t).Open(ctx, reg.Ref("debian", ":12-s1"))
	if err != nil {
		t.Fatal(err)
	}
	ims, err := provenance.Inspect(ctx, s, provenance.InspectOptions{FetchSchema1: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ims) != 1 || ims[0].Digest != dg {
		t.Fatalf("images %+v, want one with digest %s", ims, dg)
	}
	if fmt.Sprint(ims[0].DiffIDs) != fmt.Sprint(built[0].DiffIDs) {
		t.Fatalf("schema 1 diff_ids %v, schema 2 twin %v", ims[0].DiffIDs, built[0].DiffIDs)
	}
	base, err := provenance.NewBase("debian", ims[0], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A schema 2 app on the schema 2 twin passes against the schema 1 base.
	_, app := registrytest.PushFixture(t, ctx, reg.Repo(t, ctx, "app"), "1", fixture.Image{DockerMediaTypes: true,
		Layers: []fixture.Layer{layer("rootfs", 3000), layer("apt", 200), layer("app", 10)}})
	ix := provenance.NewIndex([]provenance.Base{base})
	rs, err := provenance.CheckAll(ctx, []string{reg.Ref("app", ":1")}, opener(reg.Client(t)), ix, provenance.CheckOptions{})
	if err != nil || len(rs) != 1 || rs[0].Status != provenance.StatusOK || rs[0].BaseLayers != 2 || rs[0].AppLayers != 1 {
		t.Fatalf("app on schema 1 base: %+v %v (app diff_ids %v)", rs, err, app[0].DiffIDs)
	}
}

// repushGzip9 pushes img with every layer gzipped at level 9 instead of
// fixture's level 6: other blob digests, same config (same diff_ids).
func repushGzip9(t *testing.T, ctx context.Context, reg *registrytest.Registry, repoName, tag string, img fixture.Image) {
	t.Helper()
	b := fixture.Build(t, img)
	repo := reg.Repo(t, ctx, repoName)
	m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: b.Config}
	for _, l := range b.Layers {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(l.Tar)
		zw.Close()
		m.Layers = append(m.Layers, registrytest.PushBlob(t, ctx, repo, image.MediaTypeOCILayerGzip, buf.Bytes()))
	}
	registrytest.PushBlob(t, ctx, repo, b.Config.MediaType, b.ConfigBytes)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	registrytest.PushManifest(t, ctx, repo, tag, m.MediaType, raw)
}
