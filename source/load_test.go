package source

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
)

func plainImage(arch string, files ...string) fixture.Image {
	var fs []fixture.File
	for _, f := range files {
		fs = append(fs, fixture.File{Path: f, Body: []byte(f + "-" + arch)})
	}
	return fixture.Image{Arch: arch, Layers: []fixture.Layer{{Files: fs}, {Compression: "zstd", Files: []fixture.File{{Path: "z", Body: []byte(arch)}}}}}
}

func loadRef(t *testing.T, ref string) (*image.Node, content.Store) {
	t.Helper()
	s, err := Open(context.Background(), ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	root, err := Load(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return root, s
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestLoadMultiArchWithAttestation(t *testing.T) {
	dir := t.TempDir()
	fixture.Init(t, dir)
	amd := fixture.WriteLayout(t, dir, "amd", plainImage("amd64", "a"))
	arm := fixture.WriteLayout(t, dir, "arm", func() fixture.Image { i := plainImage("arm64", "b"); i.Variant = "v8"; return i }())
	amd.Platform = &image.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &image.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	amd.Annotations, arm.Annotations = nil, nil
	intoto := fixture.WriteBlob(t, dir, image.MediaTypeInToto, []byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicate":{"args":{"build-arg:TOKEN":"x"}}}`))
	cfg := fixture.WriteBlob(t, dir, image.MediaTypeOCIConfig, []byte(`{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["`+string(intoto.Digest)+`"]}}`))
	att := fixture.WriteBlob(t, dir, image.MediaTypeOCIManifest, mustJSON(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cfg, Layers: []image.Descriptor{intoto}}))
	att.Platform = &image.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{image.AnnotationReferenceType: image.ReferenceTypeAttestation, image.AnnotationReferenceDigest: string(amd.Digest)}
	ix := fixture.WriteBlob(t, dir, image.MediaTypeOCIIndex, mustJSON(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{amd, arm, att}}))
	fixture.AddRef(t, dir, ix, "multi")

	root, _ := loadRef(t, "oci:"+dir+":multi")
	if root.Kind != image.KindIndex || len(root.Children) != 3 {
		t.Fatalf("root %s with %d children", root.Kind, len(root.Children))
	}
	if a := root.Children[2].Image; a == nil || a.Kind != image.KindAttestation || a.AttestationFor != amd.Digest {
		t.Fatalf("attestation not recognised: %+v", root.Children[2].Image)
	}
	cases := []struct {
		want string
		all  bool
		n    int
		arch string
	}{
		{"linux/arm64", false, 1, "arm64"},
		{"linux/arm64/v8", false, 1, "arm64"},
		{"linux/amd64", false, 1, "amd64"},
		{"", true, 2, ""},
	}
	for _, c := range cases {
		var p *image.Platform
		if c.want != "" {
			p, _ = image.ParsePlatform(c.want)
		}
		ims, err := Select(root, p, c.all)
		if err != nil || len(ims) != c.n || (c.arch != "" && ims[0].Platform.Architecture != c.arch) {
			t.Errorf("Select(%s, all=%v) = %d images, %v", c.want, c.all, len(ims), err)
		}
	}
	p, _ := image.ParsePlatform("windows/amd64")
	if _, err := Select(root, p, false); !errors.Is(err, ErrNoMatchingPlatform) {
		t.Errorf("missing platform err = %v", err)
	}
}

func TestLoadCacheForms(t *testing.T) {
	for _, form := range []string{"index", "manifest"} {
		t.Run(form, func(t *testing.T) {
			dir := t.TempDir()
			fixture.Init(t, dir)
			layers := []fixture.Layer{
				{Files: []fixture.File{{Path: "base", Body: []byte("b")}}},
				{Files: []fixture.File{{Path: "builder/secret", Body: []byte("s")}}},
				{Files: []fixture.File{{Path: "app", Body: []byte("a")}}},
			}
			fixture.WriteCacheLayout(t, dir, "cache", form, layers, -1, 0, 0)
			root, _ := loadRef(t, "oci:"+dir+":cache")
			ims, err := Select(root, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			im := ims[0]
			if im.Kind != image.KindCache || im.Cache == nil || len(im.Layers) != 3 {
				t.Fatalf("cache image: kind %s, %d layers", im.Kind, len(im.Layers))
			}
			chains := im.Chains()
			if len(chains) != 2 || len(chains[0]) != 2 || len(chains[1]) != 2 {
				t.Fatalf("chains = %v, want two 2-layer chains (base+builder, base+app)", chains)
			}
			for _, l := range im.Layers {
				if l.DiffID == "" {
					t.Errorf("cache layer %d has no diff_id", l.Index)
				}
			}
		})
	}
}

func TestLoadDetectsTampering(t *testing.T) {
	dir := t.TempDir()
	fixture.Init(t, dir)
	d := fixture.WriteLayout(t, dir, "v", plainImage("amd64", "a"))
	raw, _ := os.ReadFile(fixture.BlobPath(dir, d.Digest))
	var m image.Manifest
	json.Unmarshal(raw, &m)
	// Tamper with the config blob in place.
	cfgPath := fixture.BlobPath(dir, m.Config.Digest)
	cb, _ := os.ReadFile(cfgPath)
	cb[len(cb)-2] = ' '
	os.WriteFile(cfgPath, cb, 0o644)
	s, err := Open(context.Background(), "oci:"+dir+":v", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Load(context.Background(), s, nil)
	var de *content.DigestError
	if !errors.As(err, &de) || de.Want != m.Config.Digest {
		t.Fatalf("tampered config: err = %v", err)
	}
	// And the manifest itself.
	raw[len(raw)-1] = ' '
	os.WriteFile(fixture.BlobPath(dir, d.Digest), raw, 0o644)
	_, err = Load(context.Background(), s, nil)
	if !errors.Is(err, content.ErrDigestMismatch) {
		t.Fatalf("tampered manifest: err = %v", err)
	}
}

func TestLoadSchema1(t *testing.T) {
	// No tool here writes schema 1 any more (FIELD-NOTES 1.9), so the
	// manifest is built by hand: that is the point of the test.
	dir := t.TempDir()
	fixture.Init(t, dir)
	l1 := fixture.WriteBlob(t, dir, image.MediaTypeDockerLayerGzip, fixture.Compress(t, fixture.Tar(t, []fixture.File{{Path: "etc/base", Body: []byte("1")}}), "gzip"))
	l2 := fixture.WriteBlob(t, dir, image.MediaTypeDockerLayerGzip, fixture.Compress(t, fixture.Tar(t, []fixture.File{{Path: "app", Body: []byte("2")}}), "gzip"))
	empty := fixture.WriteBlob(t, dir, image.MediaTypeDockerLayerGzip, fixture.Compress(t, fixture.Tar(t, nil), "gzip"))
	v1 := func(id, parent string, throwaway bool, cmd string) map[string]string {
		b, _ := json.Marshal(map[string]any{"id": id, "parent": parent, "throwaway": throwaway, "os": "linux", "container_config": map[string]any{"Cmd": []string{"/bin/sh", "-c", cmd}}})
		return map[string]string{"v1Compatibility": string(b)}
	}
	s1 := map[string]any{"schemaVersion": 1, "name": "old/app", "tag": "1", "architecture": "amd64",
		"fsLayers": []map[string]string{{"blobSum": string(empty.Digest)}, {"blobSum": string(l2.Digest)}, {"blobSum": string(l1.Digest)}},
		"history":  []map[string]string{v1("c", "b", true, "#(nop) CMD [\"app\"]"), v1("b", "a", false, "cp app /"), v1("a", "", false, "#(nop) ADD file:x in /")},
	}
	md := fixture.WriteBlob(t, dir, image.MediaTypeSchema1, mustJSON(s1))
	fixture.AddRef(t, dir, md, "s1")
	root, _ := loadRef(t, "oci:"+dir+":s1")
	ims, err := Select(root, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	im := ims[0]
	if im.Kind != image.KindSchema1 || len(im.Layers) != 2 || im.Layers[0].Descriptor.Digest != l1.Digest || im.Layers[1].History.CreatedBy != "/bin/sh -c cp app /" {
		t.Fatalf("schema1 image: %+v", im.Layers)
	}
	if len(im.Config.History) != 3 || !im.Config.History[2].EmptyLayer {
		t.Fatalf("schema1 history: %+v", im.Config.History)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for ref, want := range map[string]error{
		"oci:" + filepath.Join(dir, "none"):                nil,
		"docker-archive:" + filepath.Join(dir, "none.tar"): nil,
		"sif:x": content.ErrBadReference,
	} {
		_, err := Open(context.Background(), ref, Options{})
		if err == nil || (want != nil && !errors.Is(err, want)) {
			t.Errorf("Open(%s) err = %v", ref, err)
		}
	}
}
