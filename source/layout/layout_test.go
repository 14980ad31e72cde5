package layout_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/source"
	"github.com/stratascan/strata/source/layout"
)

var ctx = context.Background()

func small(label string) fixture.Image {
	return fixture.Image{Labels: map[string]string{"l": label}, Layers: []fixture.Layer{{Files: []fixture.File{{Path: label, Body: []byte(label)}}}}}
}

// Interface checks.
var (
	_ content.Store     = (*layout.Store)(nil)
	_ content.Namer     = (*layout.Store)(nil)
	_ content.TagLister = (*layout.Store)(nil)
	_ content.WithTag   = (*layout.Store)(nil)
)

// TestOCISelect: every way to name an image in an OCI layout.
func TestOCISelect(t *testing.T) {
	dir := t.TempDir()
	a := fixture.WriteLayout(t, dir, "a", small("a"))
	b := fixture.WriteLayout(t, dir, "b", small("b"))
	// A Docker 25 style entry: containerd name + short ref name.
	c := fixture.Build(t, small("c"))
	fixture.WriteBlob(t, dir, c.Config.MediaType, c.ConfigBytes)
	fixture.WriteBlob(t, dir, c.Layers[0].MediaType, c.Layers[0].Bytes)
	fixture.WriteBlob(t, dir, c.Manifest.MediaType, c.ManifestBytes)
	cd := c.Manifest
	cd.Annotations = map[string]string{image.AnnotationContainerdName: "docker.io/library/busybox:1.36", image.AnnotationRefName: "1.36"}
	fixture.AddRef(t, dir, cd, "")
	// A full reference in ref.name (ggcr/buildx style), and a duplicate tag.
	fixture.AddRef(t, dir, b, "registry.example/team/app:v2")
	// Two entries with the same ref name but different images.
	dup := a
	dup.Annotations = map[string]string{image.AnnotationRefName: "dup"}
	fixture.AddRef(t, dir, dup, "")
	dup2 := b
	dup2.Annotations = map[string]string{image.AnnotationRefName: "dup"}
	fixture.AddRef(t, dir, dup2, "")
	indexJSON, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	fsys := os.DirFS(dir)

	for ref, want := range map[string]image.Digest{
		"a": a.Digest, "b": b.Digest, "@0": a.Digest, "@1": b.Digest, "@2": c.Manifest.Digest,
		"1.36": c.Manifest.Digest, "busybox:1.36": c.Manifest.Digest, "docker.io/library/busybox:1.36": c.Manifest.Digest,
		"registry.example/team/app:v2": b.Digest, string(b.Digest): b.Digest,
		string(c.Manifest.Digest): c.Manifest.Digest,
	} {
		s, err := layout.OCI(ctx, fsys, ref)
		if err != nil {
			t.Fatalf("%q: %v", ref, err)
		}
		root, _ := s.Root(ctx)
		if root.Digest != want {
			t.Errorf("%q: root %s, want %s", ref, root.Digest, want)
		}
	}
	s, _ := layout.OCI(ctx, fsys, "busybox:1.36")
	if s.Name() != "docker.io/library/busybox:1.36" {
		t.Errorf("name %q", s.Name())
	}
	tags, _ := s.Tags(ctx)
	if !strings.Contains(strings.Join(tags, ","), "registry.example/team/app:v2") {
		t.Errorf("tags %v", tags)
	}
	other, err := s.WithTag(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := other.Root(ctx); r.Digest != a.Digest {
		t.Errorf("WithTag a: %s", r.Digest)
	}

	// No ref and several images: index.json itself is the root.
	s, err = layout.OCI(ctx, fsys, "")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := s.Root(ctx)
	if root.Digest != image.FromBytes(indexJSON) || root.MediaType != image.MediaTypeOCIIndex {
		t.Fatalf("root %+v", root)
	}
	node, err := source.Load(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(node.Children) != 6 {
		t.Fatalf("whole index: %d children", len(node.Children))
	}

	for ref, want := range map[string]error{
		"nope": content.ErrNotFound, "@9": content.ErrNotFound, "@x": content.ErrNotFound,
		"dup":                               content.ErrAmbiguous,
		"sha256:" + strings.Repeat("0", 64): content.ErrNotFound,
		string(c.Layers[0].Digest):          content.ErrBadReference,
	} {
		_, err := layout.OCI(ctx, fsys, ref)
		if !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", ref, err, want)
		}
	}
	_, err = layout.OCI(ctx, fsys, "nope")
	if !strings.Contains(err.Error(), "@0 a") {
		t.Errorf("not-found error should list the refs: %v", err)
	}
}

// TestOCISingleEntry: no ref with one image (even listed twice) selects it.
func TestOCISingleEntry(t *testing.T) {
	dir := t.TempDir()
	a := fixture.WriteLayout(t, dir, "a", small("a"))
	fixture.AddRef(t, dir, a, "also-a")
	s, err := layout.OCI(ctx, os.DirFS(dir), "")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Root(ctx); r.Digest != a.Digest {
		t.Fatal(r)
	}
}

// TestOpenErrors: missing blob, tampered blob, bad layouts.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	fixture.WriteLayout(t, dir, "a", small("a"))
	built := fixture.Build(t, small("a"))
	s, err := layout.OpenOCIDir(ctx, dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Open(ctx, image.Descriptor{Digest: image.Digest("sha256:" + strings.Repeat("1", 64))})
	if !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	for _, bad := range []image.Digest{"sha256:../../etc/passwd", "../x", "", image.Digest("sha256:" + strings.Repeat("A", 64))} {
		if _, err := s.Open(ctx, image.Descriptor{Digest: bad}); !errors.Is(err, content.ErrNotFound) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	// Tamper with the layer: Open works, Verify fails with a DigestError.
	lp := fixture.BlobPath(dir, built.Layers[0].Digest)
	raw, _ := os.ReadFile(lp)
	raw[len(raw)-5] ^= 0xff
	os.WriteFile(lp, raw, 0o644)
	rc, err := s.Open(ctx, built.Layers[0].Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, content.Verify(rc, built.Layers[0].Descriptor(), "layer 0"))
	var de *content.DigestError
	if !errors.As(err, &de) {
		t.Fatalf("tampered: %v", err)
	}
	// Tampered config: Load fails naming it.
	os.WriteFile(fixture.BlobPath(dir, built.Config.Digest), []byte(`{}`), 0o644)
	if _, err := source.Load(ctx, s, nil); !errors.Is(err, content.ErrSizeMismatch) && !errors.Is(err, content.ErrDigestMismatch) {
		t.Fatalf("tampered config: %v", err)
	}

	cases := map[string]struct {
		files fstest.MapFS
		want  error
	}{
		"empty dir":       {fstest.MapFS{}, layout.ErrNotLayout},
		"bad oci-layout":  {fstest.MapFS{"oci-layout": {Data: []byte("nope")}}, image.ErrMalformed},
		"version 2":       {fstest.MapFS{"oci-layout": {Data: []byte(`{"imageLayoutVersion":"2.0.0"}`)}}, image.ErrUnsupported},
		"no index.json":   {fstest.MapFS{"oci-layout": {Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}}, image.ErrMalformed},
		"garbage index":   {fstest.MapFS{"oci-layout": {Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, "index.json": {Data: []byte(`[1,2`)}}, image.ErrMalformed},
		"bad digest":      {fstest.MapFS{"oci-layout": {Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, "index.json": {Data: []byte(`{"manifests":[{"digest":"sha256:../../x","size":1}]}`)}}, image.ErrMalformed},
		"manifest as idx": {fstest.MapFS{"oci-layout": {Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, "index.json": {Data: []byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)}}, image.ErrMalformed},
		"empty index":     {fstest.MapFS{"oci-layout": {Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, "index.json": {Data: []byte(`{"manifests":[]}`)}}, content.ErrNotFound},
	}
	for name, c := range cases {
		if _, err := layout.OCI(ctx, c.files, ""); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := layout.OpenOCIDir(ctx, filepath.Join(dir, "index.json"), ""); !errors.Is(err, layout.ErrNotLayout) {
		t.Errorf("file as dir: %v", err)
	}
	if _, err := layout.OpenOCIDir(ctx, filepath.Join(dir, "nope"), ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

// TestDirErrors: skopeo dir: checks.
func TestDirErrors(t *testing.T) {
	for name, c := range map[string]struct {
		files fstest.MapFS
		want  error
	}{
		"no version":  {fstest.MapFS{"manifest.json": {Data: []byte(`{}`)}}, layout.ErrNotLayout},
		"version 2":   {fstest.MapFS{"version": {Data: []byte("Directory Transport Version: 2.0\n")}}, image.ErrUnsupported},
		"no manifest": {fstest.MapFS{"version": {Data: []byte("Directory Transport Version: 1.1\n")}}, fs.ErrNotExist},
		"garbage":     {fstest.MapFS{"version": {Data: []byte("Directory Transport Version: 1.1\n")}, "manifest.json": {Data: []byte(`nope`)}}, image.ErrMalformed},
	} {
		if _, err := layout.Dir(ctx, c.files); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A dir: copy of a schema 1 manifest has no media type field.
	s, err := layout.Dir(ctx, fstest.MapFS{
		"version":       {Data: []byte("Directory Transport Version: 1.1\n")},
		"manifest.json": {Data: []byte(`{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[],"history":[]}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Root(ctx); r.MediaType != image.MediaTypeSchema1 {
		t.Fatalf("schema1 dir root %+v", r)
	}
	if _, err := s.WithTag(ctx, "x"); !errors.Is(err, content.ErrBadReference) {
		t.Fatal(err)
	}
}

// TestDocker25MissingPlatformBlobs: a Docker 29 style save whose index
// names platform manifests the tarball does not hold loads with a warning
// (FIELD-NOTES 1.7) and the missing blob is ErrNotFound.
func TestDocker25MissingPlatformBlobs(t *testing.T) {
	lay := filepath.Join(t.TempDir(), "l")
	amd, arm := small("amd"), small("arm")
	arm.Arch = "arm64"
	_, built := fixture.WriteIndexBuilt(t, lay, "multi", amd, arm)
	tree := filepath.Join(t.TempDir(), "save")
	tarPath := filepath.Join(t.TempDir(), "save.tar")
	fixture.DockerArchive25(t, lay, "multi", tarPath, "app:1")
	// Unpack (with Go) to a directory and drop the arm64 manifest.
	unpack(t, tarPath, tree)
	os.Remove(fixture.BlobPath(tree, built[1].Manifest.Digest))
	s, err := layout.DockerSave(ctx, os.DirFS(tree), "app:1")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := s.Root(ctx)
	if !image.IsIndex(root.MediaType) {
		t.Fatalf("root %+v, want the saved index", root)
	}
	node, err := source.Load(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if node.Children[1].Warning == "" {
		t.Fatal("missing platform manifest not reported")
	}
	ims, err := source.Select(node, nil, false)
	if err != nil || ims[0].ConfigRef.Digest != built[0].Config.Digest {
		t.Fatalf("select: %v", err)
	}
	if s.Name() != "app:1" {
		t.Errorf("name %q", s.Name())
	}
}

// TestDockerSaveWithoutManifestJSON: an OCI layout tarball without
// manifest.json (buildx -o type=oci) passed as docker-archive still opens.
func TestDockerSaveWithoutManifestJSON(t *testing.T) {
	dir := t.TempDir()
	a := fixture.WriteLayout(t, dir, "a", small("a"))
	s, err := layout.DockerSave(ctx, os.DirFS(dir), "")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Root(ctx); r.Digest != a.Digest {
		t.Fatal(r)
	}
	if _, err := layout.DockerSave(ctx, fstest.MapFS{}, ""); !errors.Is(err, layout.ErrNotLayout) {
		t.Fatal(err)
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                               "docker.io/library/busybox:latest",
		"busybox:1":                             "docker.io/library/busybox:1",
		"library/busybox:1":                     "docker.io/library/busybox:1",
		"docker.io/busybox":                     "docker.io/library/busybox:latest",
		"index.docker.io/busybox:2":             "docker.io/library/busybox:2",
		"me/app:2":                              "docker.io/me/app:2",
		"localhost:5000/app":                    "localhost:5000/app:latest",
		"registry.example/a/b:c":                "registry.example/a/b:c",
		"app@sha256:" + strings.Repeat("a", 64): "docker.io/library/app@sha256:" + strings.Repeat("a", 64),
	} {
		if got := layout.NormalizeName(in); got != want {
			t.Errorf("%s: got %s want %s", in, got, want)
		}
	}
}

func unpack(t *testing.T, tarPath, dir string) {
	t.Helper()
	members := fixture.ReadTar(t, tarPath)
	for name, b := range members {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzDockerManifestJSON(f *testing.F) {
	f.Add([]byte(`[{"Config":"abc.json","RepoTags":["a:1"],"Layers":["x/layer.tar"]}]`))
	f.Add([]byte(`[{"Config":"blobs/sha256/` + strings.Repeat("a", 64) + `","RepoTags":null,"Layers":["../x"],"LayerSources":{"sha256:` + strings.Repeat("b", 64) + `":{"mediaType":"m","digest":"sha256:` + strings.Repeat("c", 64) + `","size":3}}}]`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		entries, err := layout.ParseDockerManifest(raw)
		if err != nil {
			return
		}
		files := fstest.MapFS{"manifest.json": {Data: raw}}
		for _, e := range entries {
			if strings.Contains(e.Config, "..") && strings.Contains("/"+e.Config+"/", "/../") {
				t.Fatalf("accepted escaping config path %q", e.Config)
			}
			files[strings.TrimPrefix(e.Config, "./")] = &fstest.MapFile{Data: []byte(`{"rootfs":{"type":"layers","diff_ids":[]}}`)}
		}
		for _, ref := range []string{"", "@0", "a:1"} {
			s, err := layout.DockerSave(ctx, files, ref)
			if err != nil {
				continue
			}
			if r, err := s.Root(ctx); err == nil {
				if rc, err := s.Open(ctx, r); err == nil {
					rc.Close()
				}
			}
		}
	})
}

func FuzzOCIIndexJSON(f *testing.F) {
	d := "sha256:" + strings.Repeat("a", 64)
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d + `","size":2,"annotations":{"org.opencontainers.image.ref.name":"a"}}]}`))
	f.Add([]byte(`{"manifests":[{"digest":"sha256:../../x"}]}`))
	f.Add([]byte(`{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		files := fstest.MapFS{
			"oci-layout":            {Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
			"index.json":            {Data: raw},
			"blobs/sha256/" + d[7:]: {Data: []byte(`{}`)},
		}
		for _, ref := range []string{"", "a", "@0", "busybox", d} {
			s, err := layout.OCI(ctx, files, ref)
			if err != nil {
				continue
			}
			r, err := s.Root(ctx)
			if err != nil {
				t.Fatalf("root after successful open: %v", err)
			}
			if rc, err := s.Open(ctx, r); err == nil {
				io.CopyN(io.Discard, rc, 1<<20) // bounded: a descriptor may declare any size
				rc.Close()
			}
			var probe json.RawMessage
			_ = json.Unmarshal(raw, &probe)
		}
	})
}

// TestAttestedIndex: an index with BuildKit attestation manifests loads
// from a layout; Select skips the attestations, the in-toto blob opens.
func TestAttestedIndex(t *testing.T) {
	dir := t.TempDir()
	_, built := fixture.WriteIndexAttested(t, dir, "att", nil, small("amd"), small("arm"))
	s, err := layout.OpenOCIDir(ctx, dir, "att")
	if err != nil {
		t.Fatal(err)
	}
	node, err := source.Load(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var att *image.Image
	for _, im := range node.Images() {
		if im.Kind == image.KindAttestation {
			att = im
		}
	}
	if att == nil || att.AttestationFor == "" {
		t.Fatal("no attestation image")
	}
	all, err := source.Select(node, nil, true)
	if err != nil || len(all) != 2 {
		t.Fatalf("select all: %d %v", len(all), err)
	}
	if all[0].ConfigRef.Digest != built[0].Config.Digest {
		t.Fatal("wrong image")
	}
	b, err := content.ReadAll(ctx, s, att.Layers[0].Descriptor, "in-toto", 1<<20)
	if err != nil || !strings.Contains(string(b), "slsa.dev/provenance") {
		t.Fatalf("in-toto: %v", err)
	}
}
