package archive_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/source"
	"github.com/stratascan/strata/source/archive"
	"github.com/stratascan/strata/source/layout"
)

// secretImage has a deleted secret, an opaque dir, links, empty history
// steps and all three compressions.
func secretImage(compressions ...string) fixture.Image {
	c := func(i int) string {
		if i < len(compressions) {
			return compressions[i]
		}
		return "gzip"
	}
	return fixture.Image{
		Layers: []fixture.Layer{
			{CreatedBy: "ADD rootfs.tar /", Compression: c(0), Files: []fixture.File{
				{Path: "etc", Type: tar.TypeDir},
				{Path: "etc/app", Type: tar.TypeDir},
				{Path: "etc/app/.env", Body: []byte("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")},
				{Path: "var/cache", Type: tar.TypeDir},
				{Path: "var/cache/pkg", Body: bytes.Repeat([]byte("cache"), 1000)},
				{Path: "bin", Type: tar.TypeDir},
				{Path: "bin/busybox", Body: []byte("\x7fELF fake"), Mode: 0o755},
				{Path: "bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"},
				{Path: "bin/ash", Type: tar.TypeLink, Linkname: "bin/busybox"},
			}},
			{CreatedBy: "RUN rm -rf /etc/app/.env /var/cache/*", Compression: c(1), Files: []fixture.File{
				{Path: "etc/app/.wh..env"},
				{Path: "var/cache/.wh..wh..opq"},
			}},
			{CreatedBy: "COPY app /app", Compression: c(2), Files: []fixture.File{
				{Path: "app", Type: tar.TypeDir},
				{Path: "app/main", Body: []byte("main"), Mode: 0o755},
			}},
		},
		History: []fixture.Step{{}, {CreatedBy: "ENV A=1", Empty: true}, {}, {}, {CreatedBy: `CMD ["/app/main"]`, Empty: true}},
		Env:     []string{"A=1"}, Cmd: []string{"/app/main"}, Labels: map[string]string{"org.example": "strata"},
	}
}

type opened struct {
	name  string
	store content.Store
	// legacy docker-archive: layers are the uncompressed tars.
	uncompressed bool
}

// openAllForms writes img in every on-disk form and opens each.
func openAllForms(t *testing.T, img fixture.Image, withLegacy bool) []opened {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	lay := filepath.Join(tmp, "layout")
	fixture.WriteLayout(t, lay, "v1", img)
	// A second tag so selection matters.
	fixture.WriteLayout(t, lay, "other", fixture.Image{Layers: img.Layers[:1]})

	var out []opened
	add := func(name string, s content.Store, err error, unc bool) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, opened{name, s, unc})
	}
	s, err := layout.OpenOCIDir(ctx, lay, "v1")
	add("oci", s, err, false)

	oa := filepath.Join(tmp, "oci.tar")
	fixture.OCIArchive(t, lay, oa)
	s, err = archive.OpenOCIArchive(ctx, oa, "v1")
	add("oci-archive", s, err, false)

	d25 := filepath.Join(tmp, "docker25.tar")
	fixture.DockerArchive25(t, lay, "v1", d25, "app:1", "registry.example/team/app:latest")
	s, err = archive.OpenDockerArchive(ctx, d25, "docker.io/library/app:1")
	add("docker-archive-25", s, err, false)

	dir := filepath.Join(tmp, "dir")
	fixture.DirCopy(t, lay, "v1", dir)
	s, err = layout.OpenDir(ctx, dir)
	add("dir", s, err, false)

	if withLegacy {
		legacy := filepath.Join(tmp, "legacy.tar")
		fixture.DockerArchiveLegacy(t, lay, "v1", legacy, "app:1")
		s, err = archive.OpenDockerArchive(ctx, legacy, "app:1")
		add("docker-archive-legacy", s, err, true)

		moby := filepath.Join(tmp, "moby.tar")
		fixture.DockerArchiveMoby(t, lay, "v1", moby, "app:1")
		s, err = archive.OpenDockerArchive(ctx, moby, "")
		add("docker-archive-moby", s, err, true)
	}
	return out
}

// diffID decompresses a layer (sniffed) and hashes the tar.
// layerDiffID opens layer d from s, verifies it against its digest while
// reading, and returns the digest of its uncompressed tar.
func layerDiffID(t *testing.T, ctx context.Context, s content.Store, d image.Descriptor) image.Digest {
	t.Helper()
	rc, err := s.Open(ctx, d)
	if err != nil {
		t.Fatalf("open layer %s: %v", d.Digest, err)
	}
	defer rc.Close()
	return diffID(t, content.Verify(rc, d, "layer"))
}

func diffID(t *testing.T, r io.Reader) image.Digest {
	t.Helper()
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	var tr io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			t.Fatal(err)
		}
		tr = zr
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		tr = zr
	}
	h := sha256.New()
	if _, err := io.Copy(h, tr); err != nil {
		t.Fatal(err)
	}
	return image.FromSum(h.Sum(nil))
}

func checkSameImage(t *testing.T, o opened, want *fixture.Built) {
	t.Helper()
	ctx := context.Background()
	node, err := source.Load(ctx, o.store, nil)
	if err != nil {
		t.Fatalf("%s: Load: %v", o.name, err)
	}
	ims, err := source.Select(node, nil, false)
	if err != nil {
		t.Fatalf("%s: Select: %v", o.name, err)
	}
	im := ims[0]
	if im.ConfigRef.Digest != want.Config.Digest {
		t.Errorf("%s: config %s, want %s", o.name, im.ConfigRef.Digest, want.Config.Digest)
	}
	if !slices.Equal(im.DiffIDs(), want.DiffIDs) {
		t.Errorf("%s: diff_ids %v, want %v", o.name, im.DiffIDs(), want.DiffIDs)
	}
	if len(im.Layers) != len(want.Layers) {
		t.Fatalf("%s: %d layers, want %d", o.name, len(im.Layers), len(want.Layers))
	}
	for i, l := range im.Layers {
		wantDigest := want.Layers[i].Digest
		if o.uncompressed {
			wantDigest = want.DiffIDs[i]
		}
		if l.Descriptor.Digest != wantDigest {
			t.Errorf("%s: layer %d digest %s, want %s", o.name, i, l.Descriptor.Digest, wantDigest)
		}
		if l.History == nil || l.History.CreatedBy != im.Config.History[l.HistoryIndex].CreatedBy {
			t.Errorf("%s: layer %d history not aligned", o.name, i)
		}
		if got := layerDiffID(t, ctx, o.store, l.Descriptor); got != want.DiffIDs[i] {
			t.Errorf("%s: layer %d un-compresses to %s, want diff_id %s", o.name, i, got, want.DiffIDs[i])
		}
	}
}

// TestRoundTripAllForms: one spec image read back through oci:,
// oci-archive:, docker-archive: (Docker 25+ and legacy, both made from the
// layout, the legacy one by skopeo) and dir: (skopeo) gives the same config
// digest and diff_ids, and every layer streams, verifies and un-compresses
// to its diff_id.
func TestRoundTripAllForms(t *testing.T) {
	img := secretImage("gzip", "none", "gzip")
	want := fixture.Build(t, img)
	for _, o := range openAllForms(t, img, true) {
		checkSameImage(t, o, want)
	}
}

// TestDockerSaveForms: a moby legacy save with a repeated (empty) layer
// stored once and symlinked, and a Docker 25 save by image ID (index.json
// lists nothing, RepoTags null) both read back; the latter resolves to the
// manifest blob Docker kept.
func TestDockerSaveForms(t *testing.T) {
	ctx := context.Background()
	img := secretImage("gzip", "none", "gzip")
	img.Layers = append(img.Layers, fixture.Layer{CreatedBy: "WORKDIR /app"}, fixture.Layer{CreatedBy: "WORKDIR /app"})
	img.History = nil
	want := fixture.Build(t, img)
	if want.DiffIDs[3] != image.EmptyLayerDiffID || want.DiffIDs[4] != image.EmptyLayerDiffID {
		t.Fatalf("empty layers: %v", want.DiffIDs[3:])
	}
	tmp := t.TempDir()
	lay := filepath.Join(tmp, "l")
	fixture.WriteLayout(t, lay, "v1", img)
	moby, byID := filepath.Join(tmp, "moby.tar"), filepath.Join(tmp, "byid.tar")
	fixture.DockerArchiveMoby(t, lay, "v1", moby, "app:1", "app:latest")
	fixture.DockerArchive25(t, lay, "v1", byID)

	s, err := archive.OpenDockerArchive(ctx, moby, "app")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkSameImage(t, opened{name: "moby", store: s, uncompressed: true}, want)

	s2, err := archive.OpenDockerArchive(ctx, byID, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r, _ := s2.Root(ctx); r.Digest != want.Manifest.Digest {
		t.Fatalf("by-ID save: root %s, want the saved manifest %s", r.Digest, want.Manifest.Digest)
	}
	checkSameImage(t, opened{name: "docker25-by-id", store: s2}, want)
}

// TestRoundTripZstd: zstd layers survive every form except legacy
// docker-archive, which skopeo 1.9 refuses to write for zstd.
func TestRoundTripZstd(t *testing.T) {
	img := secretImage("zstd", "gzip", "zstd")
	want := fixture.Build(t, img)
	for _, o := range openAllForms(t, img, false) {
		checkSameImage(t, o, want)
	}
}

// TestRoundTripDockerMediaTypes: a Docker v2 image in an OCI layout (as
// Docker 25 and buildx write them) reads back from oci:, oci-archive: and
// Docker 25+ archives.
func TestRoundTripDockerMediaTypes(t *testing.T) {
	ctx := context.Background()
	img := secretImage()
	img.DockerMediaTypes = true
	want := fixture.Build(t, img)
	tmp := t.TempDir()
	lay := filepath.Join(tmp, "l")
	fixture.WriteLayout(t, lay, "d", img)
	oa, d25 := filepath.Join(tmp, "o.tar"), filepath.Join(tmp, "d.tar")
	fixture.OCIArchive(t, lay, oa)
	fixture.DockerArchive25(t, lay, "d", d25, "app:d")
	s1, err := layout.OpenOCIDir(ctx, lay, "d")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := archive.OpenOCIArchive(ctx, oa, "")
	if err != nil {
		t.Fatal(err)
	}
	s3, err := archive.OpenDockerArchive(ctx, d25, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []opened{{name: "oci", store: s1}, {name: "oci-archive", store: s2}, {name: "docker-25", store: s3}} {
		root, _ := o.store.Root(ctx)
		if root.MediaType != image.MediaTypeDockerManifest {
			t.Errorf("%s: root %s", o.name, root.MediaType)
		}
		checkSameImage(t, o, want)
		o.store.Close()
	}
}

// TestUmociImage: layers written by umoci (its own tar writer and gzip)
// read back from the layout and from an oci-archive of it.
func TestUmociImage(t *testing.T) {
	ctx := context.Background()
	lay := filepath.Join(t.TempDir(), "u")
	fixture.UmociLayout(t, lay, "v1",
		fixture.UmociLayer{CreatedBy: "add secret", Files: []fixture.File{{Path: "etc/secret", Body: []byte("s3cr3t")}}},
		fixture.UmociLayer{Whiteouts: []string{"/etc/secret"}})
	oa := filepath.Join(t.TempDir(), "u.tar")
	fixture.OCIArchive(t, lay, oa)
	for _, open := range []func() (content.Store, error){
		func() (content.Store, error) { return layout.OpenOCIDir(ctx, lay, "v1") },
		func() (content.Store, error) { return archive.OpenOCIArchive(ctx, oa, "v1") },
	} {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		node, err := source.Load(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		im := node.Image
		if im == nil || len(im.Layers) != 2 {
			t.Fatalf("umoci image: %+v", node)
		}
		for i, l := range im.Layers {
			if got := layerDiffID(t, ctx, s, l.Descriptor); got != l.DiffID {
				t.Fatalf("layer %d: diff_id %s, config says %s", i, got, l.DiffID)
			}
		}
		s.Close()
	}
}

// TestMultiImageDockerArchive: two images in one legacy docker save
// tarball (two skopeo archives merged as `docker save a b` writes them):
// selection by RepoTag in short and long forms and by @N; no reference is
// ambiguous and the error lists the tags.
func TestMultiImageDockerArchive(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	lay := filepath.Join(tmp, "l")
	a, b := secretImage(), secretImage()
	b.Labels = map[string]string{"which": "b"}
	b.Layers = b.Layers[:2]
	b.History = nil
	wa, wb := fixture.Build(t, a), fixture.Build(t, b)
	fixture.WriteLayout(t, lay, "a", a)
	fixture.WriteLayout(t, lay, "b", b)
	ta, tb, merged := filepath.Join(tmp, "a.tar"), filepath.Join(tmp, "b.tar"), filepath.Join(tmp, "m.tar")
	fixture.DockerArchiveLegacy(t, lay, "a", ta, "busybox:latest")
	fixture.DockerArchiveLegacy(t, lay, "b", tb, "registry.example/team/b:2")
	fixture.MergeDockerArchives(t, merged, ta, tb)

	for ref, want := range map[string]*fixture.Built{
		"busybox": wa, "busybox:latest": wa, "docker.io/library/busybox:latest": wa, "@0": wa,
		"registry.example/team/b:2": wb, "@1": wb,
	} {
		s, err := archive.OpenDockerArchive(ctx, merged, ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		checkSameImage(t, opened{name: ref, store: s, uncompressed: true}, want)
		if n := s.(content.Namer).Name(); n == "" {
			t.Errorf("%s: no name", ref)
		}
		tags, _ := s.(content.TagLister).Tags(ctx)
		if len(tags) != 2 {
			t.Errorf("tags %v", tags)
		}
		s.Close()
	}
	_, err := archive.OpenDockerArchive(ctx, merged, "")
	if !errors.Is(err, content.ErrAmbiguous) || !strings.Contains(err.Error(), "busybox:latest") || !strings.Contains(err.Error(), "registry.example/team/b:2") {
		t.Fatalf("no ref: %v, want ErrAmbiguous listing both tags", err)
	}
	for _, ref := range []string{"nope:1", "@2", "@-1"} {
		if _, err := archive.OpenDockerArchive(ctx, merged, ref); !errors.Is(err, content.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", ref, err)
		}
	}
	// WithTag moves to the other image of the same archive.
	s, err := archive.OpenDockerArchive(ctx, merged, "@0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s2, err := s.(content.WithTag).WithTag(ctx, "registry.example/team/b:2")
	if err != nil {
		t.Fatal(err)
	}
	checkSameImage(t, opened{name: "withtag", store: s2, uncompressed: true}, wb)
}

// TestMultiPlatformSelect: an index in an oci: layout and its oci-archive;
// source.Select picks by platform.
func TestMultiPlatformSelect(t *testing.T) {
	ctx := context.Background()
	lay := filepath.Join(t.TempDir(), "l")
	amd, arm := secretImage(), secretImage()
	arm.Arch, arm.Variant = "arm64", "v8"
	arm.Layers = arm.Layers[:1]
	arm.History = nil
	_, built := fixture.WriteIndexBuilt(t, lay, "multi", amd, arm)
	oa := filepath.Join(t.TempDir(), "o.tar")
	fixture.OCIArchive(t, lay, oa)
	dir := filepath.Join(t.TempDir(), "d")
	fixture.DirCopy(t, lay, "multi", dir, "--multi-arch", "all")
	s1, err := layout.OpenOCIDir(ctx, lay, "multi")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := archive.OpenOCIArchive(ctx, oa, "")
	if err != nil {
		t.Fatal(err)
	}
	s3, err := layout.OpenDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []content.Store{s1, s2, s3} {
		defer s.Close()
		node, err := source.Load(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := image.ParsePlatform("linux/arm64")
		ims, err := source.Select(node, p, false)
		if err != nil || len(ims) != 1 || ims[0].ConfigRef.Digest != built[1].Config.Digest {
			t.Fatalf("arm64: %v %v", ims, err)
		}
		p, _ = image.ParsePlatform("linux/amd64")
		ims, err = source.Select(node, p, false)
		if err != nil || ims[0].ConfigRef.Digest != built[0].Config.Digest {
			t.Fatalf("amd64: %v", err)
		}
		if all, _ := source.Select(node, nil, true); len(all) != 2 {
			t.Fatalf("all platforms: %d", len(all))
		}
		p, _ = image.ParsePlatform("linux/s390x")
		if _, err := source.Select(node, p, false); !errors.Is(err, source.ErrNoMatchingPlatform) {
			t.Fatalf("s390x: %v", err)
		}
	}
}

// TestBuildKitCacheLayouts: both cache forms load from oci: and
// oci-archive: with their layer chains.
func TestBuildKitCacheLayouts(t *testing.T) {
	ctx := context.Background()
	lay := filepath.Join(t.TempDir(), "c")
	ls := secretImage().Layers
	for _, form := range []string{"index", "manifest"} {
		fixture.WriteCacheLayout(t, lay, "cache-"+form, form, ls, -1, 0, 0)
	}
	oa := filepath.Join(t.TempDir(), "c.tar")
	fixture.OCIArchive(t, lay, oa)
	for _, form := range []string{"index", "manifest"} {
		s, err := archive.OpenOCIArchive(ctx, oa, "cache-"+form)
		if err != nil {
			t.Fatal(err)
		}
		node, err := source.Load(ctx, s, nil)
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		var cache *image.Image
		for _, im := range node.Images() {
			if im.Kind == image.KindCache {
				cache = im
			}
		}
		if cache == nil || len(cache.Layers) != 3 {
			t.Fatalf("%s: no cache image with 3 layers", form)
		}
		if chains := cache.Chains(); len(chains) != 2 {
			t.Fatalf("%s: chains %v, want 2 (0->1, 0->2)", form, chains)
		}
		for _, l := range cache.Layers {
			if got := layerDiffID(t, ctx, s, l.Descriptor); got != l.DiffID {
				t.Fatalf("%s: diff_id %s want %s", form, got, l.DiffID)
			}
		}
		s.Close()
	}
}

// TestDockerArchiveBadInput: missing blobs are ErrNotFound from Open (not
// at open time), tampered layers fail verification with a DigestError,
// garbage manifest.json and escaping paths are clear errors, truncated and
// compressed tarballs are refused.
func TestDockerArchiveBadInput(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	lay := filepath.Join(tmp, "l")
	img := secretImage("gzip", "none", "gzip")
	want := fixture.Build(t, img)
	fixture.WriteLayout(t, lay, "v1", img)
	legacy := filepath.Join(tmp, "legacy.tar")
	fixture.DockerArchiveLegacy(t, lay, "v1", legacy, "app:1")
	members := readTar(t, legacy)

	rewrite := func(name string, edit func(map[string][]byte)) string {
		m := map[string][]byte{}
		for k, v := range members {
			m[k] = v
		}
		edit(m)
		p := filepath.Join(tmp, name)
		writeTarMap(t, p, m)
		return p
	}
	layer1 := want.DiffIDs[1].Hex() + ".tar"

	t.Run("missing layer", func(t *testing.T) {
		p := rewrite("missing.tar", func(m map[string][]byte) { delete(m, layer1) })
		s, err := archive.OpenDockerArchive(ctx, p, "")
		if err != nil {
			t.Fatalf("open must not fail for a missing blob: %v", err)
		}
		defer s.Close()
		node, err := source.Load(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := node.Image.Layers[1]
		if _, err := s.Open(ctx, l.Descriptor); !errors.Is(err, content.ErrNotFound) {
			t.Fatalf("missing layer: %v, want ErrNotFound", err)
		}
	})
	t.Run("missing config", func(t *testing.T) {
		p := rewrite("nocfg.tar", func(m map[string][]byte) { delete(m, want.Config.Digest.Hex()+".json") })
		s, err := archive.OpenDockerArchive(ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := source.Load(ctx, s, nil); !errors.Is(err, content.ErrNotFound) {
			t.Fatalf("missing config: %v, want ErrNotFound", err)
		}
	})
	t.Run("tampered layer", func(t *testing.T) {
		p := rewrite("tampered.tar", func(m map[string][]byte) {
			b := append([]byte{}, m[layer1]...)
			b[0] ^= 'x' // first byte of the first member name
			m[layer1] = b
		})
		s, err := archive.OpenDockerArchive(ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		node, err := source.Load(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := node.Image.Layers[1]
		rc, err := s.Open(ctx, l.Descriptor)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, content.Verify(rc, l.Descriptor, "layer 1"))
		var de *content.DigestError
		if !errors.As(err, &de) || !errors.Is(err, content.ErrDigestMismatch) {
			t.Fatalf("tampered: %v, want DigestError", err)
		}
	})
	t.Run("tampered config", func(t *testing.T) {
		p := rewrite("tcfg.tar", func(m map[string][]byte) {
			m[want.Config.Digest.Hex()+".json"] = []byte(`{"rootfs":{"type":"layers","diff_ids":[]}}`)
		})
		s, err := archive.OpenDockerArchive(ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// The synthesised manifest names the config by what it hashes to, so
		// the tampering shows as layers without diff_ids.
		if _, err := source.Load(ctx, s, nil); err == nil {
			t.Fatal("a config with no diff_ids for 3 layers loaded")
		}
	})
	t.Run("compressed layer.tar", func(t *testing.T) {
		gz := fixture.Compress(t, members[layer1], "gzip")
		p := rewrite("gz.tar", func(m map[string][]byte) { m[layer1] = gz })
		s, err := archive.OpenDockerArchive(ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		node, err := source.Load(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := node.Image.Layers[1]
		if l.Descriptor.MediaType != image.MediaTypeDockerLayerGzip || l.Descriptor.Digest != image.FromBytes(gz) {
			t.Fatalf("gzip layer.tar described as %+v", l.Descriptor)
		}
		if got := layerDiffID(t, ctx, s, l.Descriptor); got != l.DiffID {
			t.Fatalf("diff_id %s want %s", got, l.DiffID)
		}
	})
	for name, mj := range map[string]string{
		"garbage":   `{{{ not json`,
		"object":    `{"Config":"x"}`,
		"traversal": `[{"Config":"../../etc/passwd","RepoTags":["a:1"],"Layers":[]}]`,
		"absolute":  `[{"Config":"x.json","RepoTags":["a:1"],"Layers":["/etc/shadow"]}]`,
		"no config": `[{"RepoTags":["a:1"],"Layers":[]}]`,
	} {
		t.Run("manifest.json "+name, func(t *testing.T) {
			p := rewrite(strings.ReplaceAll(name, " ", "_")+".tar", func(m map[string][]byte) { m["manifest.json"] = []byte(mj) })
			_, err := archive.OpenDockerArchive(ctx, p, "")
			if !errors.Is(err, image.ErrMalformed) || !strings.Contains(err.Error(), "manifest.json") {
				t.Fatalf("%v, want ErrMalformed naming manifest.json", err)
			}
			t.Log(err)
		})
	}
	t.Run("member ../evil ignored", func(t *testing.T) {
		p := rewrite("evil.tar", func(m map[string][]byte) { m["../evil"] = []byte("x") })
		s, err := archive.OpenDockerArchive(ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		tfs, err := archive.OpenTar(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		defer tfs.Close()
		if r := tfs.Rejected(); len(r) != 1 || r[0] != "../evil" {
			t.Fatalf("rejected %v", r)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		raw, _ := os.ReadFile(legacy)
		p := filepath.Join(tmp, "trunc.tar")
		os.WriteFile(p, raw[:len(raw)/2+7], 0o644)
		_, err := archive.OpenDockerArchive(ctx, p, "")
		if !errors.Is(err, archive.ErrCorrupt) || !strings.Contains(err.Error(), "trunc") {
			t.Fatalf("%v, want ErrCorrupt", err)
		}
		t.Log(err)
	})
	t.Run("compressed tarballs", func(t *testing.T) {
		raw, _ := os.ReadFile(legacy)
		for _, c := range []string{"gzip", "zstd"} {
			p := filepath.Join(tmp, "save.tar."+c)
			os.WriteFile(p, fixture.Compress(t, raw, c), 0o644)
			// OpenTar refuses with a hint; the archive openers decompress.
			_, err := archive.OpenTar(ctx, p)
			if !errors.Is(err, archive.ErrCompressed) || !strings.Contains(err.Error(), "decompress it first") {
				t.Fatalf("%s: %v, want ErrCompressed with a hint", c, err)
			}
			tmpDir := t.TempDir()
			tfs, err := archive.OpenTarDecompressed(ctx, p, tmpDir, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(tmpDir); len(ents) != 1 {
				t.Fatalf("temp files: %v", ents)
			}
			tfs.Close()
			if ents, _ := os.ReadDir(tmpDir); len(ents) != 0 {
				t.Fatalf("temp file left after Close: %v", ents)
			}
			if _, err := archive.OpenTarDecompressed(ctx, p, tmpDir, 1000); !errors.Is(err, content.ErrTooLarge) {
				t.Fatalf("limit: %v", err)
			}
			if ents, _ := os.ReadDir(tmpDir); len(ents) != 0 {
				t.Fatalf("temp file left after failure: %v", ents)
			}
			s, err := archive.OpenDockerArchive(ctx, p, "")
			if err != nil {
				t.Fatal(err)
			}
			checkSameImage(t, opened{name: c, store: s, uncompressed: true}, want)
			s.Close()
		}
		bad := filepath.Join(tmp, "bad.tar.gz")
		gz := fixture.Compress(t, raw, "gzip")
		os.WriteFile(bad, gz[:len(gz)/2], 0o644)
		if _, err := archive.OpenDockerArchive(ctx, bad, ""); !errors.Is(err, archive.ErrCorrupt) {
			t.Fatalf("truncated gzip: %v", err)
		}
	})
}

func readTar(t *testing.T, p string) map[string][]byte {
	t.Helper()
	tfs, err := archive.OpenTar(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer tfs.Close()
	out := map[string][]byte{}
	for _, m := range tfs.Members() {
		if st, err := tfs.Lstat(m); err == nil && st.Mode().IsRegular() {
			b, err := tfs.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			out[m] = b
		}
	}
	return out
}

func writeTarMap(t *testing.T, p string, m map[string][]byte) {
	t.Helper()
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var files []fixture.File
	for _, n := range names {
		files = append(files, fixture.File{Path: n, Body: m[n]})
	}
	if err := os.WriteFile(p, fixture.Tar(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentReads: one store serves parallel layer reads (run with
// -race): Root is computed once, members are independent section readers.
func TestConcurrentReads(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	lay := filepath.Join(tmp, "l")
	img := secretImage("gzip", "none", "zstd")
	want := fixture.Build(t, img)
	fixture.WriteLayout(t, lay, "v1", img)
	moby := filepath.Join(tmp, "moby.tar")
	fixture.DockerArchiveMoby(t, lay, "v1", moby, "app:1")
	s, err := archive.OpenDockerArchive(ctx, moby, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			node, err := source.Load(ctx, s, nil)
			if err != nil {
				errs <- err
				return
			}
			for i, l := range node.Image.Layers {
				rc, err := s.Open(ctx, l.Descriptor)
				if err != nil {
					errs <- err
					return
				}
				h := sha256.New()
				_, err = io.Copy(h, content.Verify(rc, l.Descriptor, "layer"))
				rc.Close()
				if err != nil {
					errs <- err
					return
				}
				if image.FromSum(h.Sum(nil)) != want.DiffIDs[i] {
					errs <- errors.New("layer bytes differ")
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestMultiImageDocker25: `docker save a b` in the Docker 25+ form:
// selection by containerd name, short tag and @N maps to the right
// index.json entry; no reference is ambiguous.
func TestMultiImageDocker25(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	lay := filepath.Join(tmp, "l")
	a, b := secretImage(), secretImage()
	b.Layers, b.History, b.Labels = b.Layers[:1], nil, map[string]string{"b": "1"}
	wa, wb := fixture.Build(t, a), fixture.Build(t, b)
	fixture.WriteLayout(t, lay, "a", a)
	fixture.WriteLayout(t, lay, "b", b)
	out := filepath.Join(tmp, "d25.tar")
	fixture.DockerArchive25Multi(t, lay, out,
		fixture.Saved{Tag: "a", RepoTags: []string{"alpha:1", "alpha:latest"}},
		fixture.Saved{Tag: "b", RepoTags: []string{"ghcr.io/org/beta:2"}})
	for ref, want := range map[string]*fixture.Built{
		"alpha": wa, "alpha:1": wa, "docker.io/library/alpha:latest": wa, "@0": wa,
		"ghcr.io/org/beta:2": wb, "@1": wb,
	} {
		s, err := archive.OpenDockerArchive(ctx, out, ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if r, _ := s.Root(ctx); r.Digest != want.Manifest.Digest {
			t.Errorf("%s: root %s, want %s", ref, r.Digest, want.Manifest.Digest)
		}
		checkSameImage(t, opened{name: ref, store: s}, want)
		s.Close()
	}
	if _, err := archive.OpenDockerArchive(ctx, out, ""); !errors.Is(err, content.ErrAmbiguous) {
		t.Fatalf("no ref: %v", err)
	}
}
