package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
)

// countingStore counts the Opens of each digest, to prove what Load fetched.
type countingStore struct {
	content.Store
	mu    sync.Mutex
	opens map[image.Digest]int
}

func (c *countingStore) Open(ctx context.Context, d image.Descriptor) (io.ReadCloser, error) {
	c.mu.Lock()
	c.opens[d.Digest]++
	c.mu.Unlock()
	return c.Store.Open(ctx, d)
}

func (c *countingStore) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.opens {
		n += v
	}
	return n
}

func openCounting(t *testing.T, ref string) *countingStore {
	t.Helper()
	s, err := Open(context.Background(), ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &countingStore{Store: s, opens: map[image.Digest]int{}}
}

// nestedIndex writes an index of levels levels, each listing the level below
// `width` times (the same digest every time), over one small image; it
// returns the top index. On disk that is a few KiB; as a tree it has
// width^levels leaves.
func nestedIndex(t *testing.T, dir string, levels, width int) image.Descriptor {
	t.Helper()
	d := fixture.WriteLayout(t, dir, "leaf", plainImage("amd64", "a"))
	d.Annotations = nil
	for range levels {
		ix := image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex}
		for range width {
			ix.Manifests = append(ix.Manifests, d)
		}
		d = fixture.WriteBlob(t, dir, image.MediaTypeOCIIndex, mustJSON(ix))
	}
	return d
}

// An index whose children are an index listing the same child 40 times, 7
// levels deep (40^7 paths), loads each distinct manifest once, quickly and in
// bounded memory; it used to expand every path (gigabytes, never finishing).
func TestLoadManifestDAGBlowUp(t *testing.T) {
	dir := t.TempDir()
	top := nestedIndex(t, dir, 7, 40)
	fixture.AddRef(t, dir, top, "dag")
	s := openCounting(t, "oci:"+dir+":dag")

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	root, err := LoadWith(context.Background(), s, LoadOptions{})
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("40^7 paths: loaded in %v, %d KiB allocated", elapsed, (after.TotalAlloc-before.TotalAlloc)>>10)
	// 7 indexes, 1 manifest, 1 config: each fetched once.
	if n := s.total(); n != 9 {
		t.Errorf("Load opened %d objects (%v), want 9: each distinct digest once", n, s.opens)
	}
	nodes := 0
	root.Walk(func(*image.Node) { nodes++ })
	if nodes != 1+7*40 {
		t.Errorf("tree has %d nodes, want %d (repeats are single nodes)", nodes, 1+7*40)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("Load allocated %d MiB, want < 64", alloc>>20)
	}
	if elapsed > 10*time.Second {
		t.Errorf("Load took %v", elapsed)
	}
	ims, err := Select(root, nil, true)
	if err != nil || len(ims) != 1 {
		t.Fatalf("Select = %d images, %v; want the one image", len(ims), err)
	}
}

// The descriptor bound and the depth bound fail with a clear error.
func TestLoadGraphLimits(t *testing.T) {
	dir := t.TempDir()
	wide := nestedIndex(t, dir, 2, 40)
	fixture.AddRef(t, dir, wide, "wide")
	deep := nestedIndex(t, dir, maxDepth+2, 1)
	fixture.AddRef(t, dir, deep, "deep")
	for _, c := range []struct {
		ref, want string
		max       int
	}{
		{"wide", "more than 50 descriptors", 50},
		{"deep", "nested deeper than", 0},
	} {
		s := openCounting(t, "oci:"+dir+":"+c.ref)
		_, err := LoadWith(context.Background(), s, LoadOptions{MaxDescriptors: c.max})
		if !errors.Is(err, ErrGraphLimit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrGraphLimit saying %q", c.ref, err, c.want)
		}
	}
}

// oddIndex writes a multi-arch index as seen in the wild: a linux/amd64 and a
// linux/arm64 image plus an unknown/unknown child whose config is {} and
// whose one layer is not a tar.
func oddIndex(t *testing.T, dir string) (top, odd image.Descriptor) {
	t.Helper()
	amd := fixture.WriteLayout(t, dir, "amd", plainImage("amd64", "a"))
	arm := fixture.WriteLayout(t, dir, "arm", plainImage("arm64", "b"))
	amd.Platform = &image.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &image.Platform{OS: "linux", Architecture: "arm64"}
	amd.Annotations, arm.Annotations = nil, nil
	cfg := fixture.WriteBlob(t, dir, image.MediaTypeOCIConfig, []byte(`{}`))
	notTar := fixture.WriteBlob(t, dir, image.MediaTypeOCILayerGzip, []byte("this is not a tar, nor gzip"))
	odd = fixture.WriteBlob(t, dir, image.MediaTypeOCIManifest, mustJSON(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cfg, Layers: []image.Descriptor{notTar}}))
	odd.Platform = &image.Platform{OS: "unknown", Architecture: "unknown"}
	top = fixture.WriteBlob(t, dir, image.MediaTypeOCIIndex, mustJSON(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{amd, odd, arm}}))
	return top, odd
}

// An odd child makes neither a platform selection nor a full load fail;
// with a platform, what the selection does not need is never fetched.
func TestLoadToleratesOddChildren(t *testing.T) {
	dir := t.TempDir()
	top, odd := oddIndex(t, dir)
	fixture.AddRef(t, dir, top, "odd")
	want, _ := image.ParsePlatform("linux/amd64")

	s := openCounting(t, "oci:"+dir+":odd")
	root, err := LoadWith(context.Background(), s, LoadOptions{Platform: want})
	if err != nil {
		t.Fatalf("--platform linux/amd64: %v", err)
	}
	if s.opens[odd.Digest] != 0 {
		t.Errorf("the unknown/unknown child was fetched %d times; the selection does not need it", s.opens[odd.Digest])
	}
	ims, err := Select(root, want, false)
	if err != nil || len(ims) != 1 || ims[0].Platform.Architecture != "amd64" {
		t.Fatalf("Select(linux/amd64) = %v, %v", ims, err)
	}

	root, err = Load(context.Background(), openCounting(t, "oci:"+dir+":odd"), nil)
	if err != nil {
		t.Fatalf("full load: %v", err)
	}
	if c := root.Children[1]; c.Image != nil || !strings.Contains(c.Warning, "unreadable") {
		t.Errorf("odd child: image %v, warning %q; want a warning node", c.Image, c.Warning)
	}
	ims, err = Select(root, nil, true)
	if err != nil || len(ims) != 2 {
		t.Fatalf("Select(all) = %d images, %v; want amd64 and arm64", len(ims), err)
	}
}

// An index whose entries declare no platform (and whose images share one)
// names its images by digest when the wanted platform is missing, not with
// an empty or ambiguous list.
func TestSelectIndexWithoutPlatforms(t *testing.T) {
	dir := t.TempDir()
	a := fixture.WriteLayout(t, dir, "a", fixture.Image{OS: "", Arch: "", Layers: []fixture.Layer{{Files: []fixture.File{{Path: "a", Body: []byte("a")}}}}})
	b := fixture.WriteLayout(t, dir, "b", fixture.Image{OS: "", Arch: "", Layers: []fixture.Layer{{Files: []fixture.File{{Path: "b", Body: []byte("b")}}}}})
	a.Annotations, b.Annotations = nil, nil
	ix := fixture.WriteBlob(t, dir, image.MediaTypeOCIIndex, mustJSON(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{a, b}}))
	fixture.AddRef(t, dir, ix, "noplat")
	root, _ := loadRef(t, "oci:"+dir+":noplat")
	want, _ := image.ParsePlatform("linux/s390x")
	_, err := Select(root, want, false)
	if !errors.Is(err, ErrNoMatchingPlatform) {
		t.Fatalf("err = %v", err)
	}
	for _, d := range []image.Descriptor{a, b} {
		if !strings.Contains(err.Error(), "linux/amd64 "+d.Digest.Short()) {
			t.Errorf("error %q does not name entry %s", err, d.Digest.Short())
		}
	}
	if l := imageLabel(nil, a.Digest); l != "(no platform) "+a.Digest.Short() {
		t.Errorf("label of an image without platform = %q", l)
	}
}

// A dir: copy without a version file opens as a bare path too; an unpacked
// docker save (a manifest.json list) is still told apart.
func TestBareDirCopyWithoutVersion(t *testing.T) {
	lay := t.TempDir()
	fixture.WriteLayout(t, lay, "x", plainImage("amd64", "a"))
	out := filepath.Join(t.TempDir(), "copy")
	fixture.DirCopy(t, lay, "x", out)
	if err := os.Remove(filepath.Join(out, "version")); err != nil {
		t.Fatal(err)
	}
	root, _ := loadRef(t, out)
	if ims, err := Select(root, nil, false); err != nil || len(ims) != 1 {
		t.Fatalf("Select = %v, %v", ims, err)
	}
	unpacked := t.TempDir()
	if err := os.WriteFile(filepath.Join(unpacked, "manifest.json"), []byte(`[{"Config":"c.json","RepoTags":["a:b"],"Layers":[]}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), unpacked, Options{}); !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), "docker save") {
		t.Fatalf("unpacked docker save: %v", err)
	}
}
