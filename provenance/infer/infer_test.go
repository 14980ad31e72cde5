package infer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/source"
)

// layoutStore is a minimal read-only OCI layout reader for these tests (the
// only image in index.json).
type layoutStore struct{ dir string }

func (s layoutStore) Root(context.Context) (image.Descriptor, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "index.json"))
	if err != nil {
		return image.Descriptor{}, err
	}
	var ix image.Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return image.Descriptor{}, err
	}
	return ix.Manifests[len(ix.Manifests)-1], nil
}

func (s layoutStore) Open(_ context.Context, d image.Descriptor) (io.ReadCloser, error) {
	return os.Open(filepath.Join(s.dir, "blobs", d.Digest.Algorithm(), d.Digest.Hex()))
}
func (s layoutStore) Close() error { return nil }

func loadOne(t *testing.T, s content.Store) *image.Image {
	t.Helper()
	root, err := source.Load(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := source.Select(root, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return ims[0]
}

func candidate(l Layer, profile string) Candidate {
	for _, c := range l.Candidates {
		if c.Profile == profile {
			return c
		}
	}
	return Candidate{}
}

// testTar is a layer tar with some compressible and some random content,
// a few MiB so that pgzip's 1 MiB blocks and zstd's blocks matter.
func testTar(t *testing.T, seed string) []byte {
	rnd := make([]byte, 128<<10)
	rand.Read(rnd)
	return fixture.Tar(t, []fixture.File{
		{Path: "etc/", Type: '5'},
		{Path: "etc/seed", Body: []byte(seed)},
		{Path: "usr/share/doc/text", Body: bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 28000)},
		{Path: "usr/lib/blob", Body: rnd},
	})
}

// go-containerregistry compresses uncompressed tars with stdlib gzip at
// BestSpeed (v0.22.1 pkg/v1/tarball/layer.go: compressionLevel:
// gzip.BestSpeed; internal/gzip.ReadCloserLevel). Build an image with it and
// check the go-gzip-1 profile reproduces every layer digest.
func TestInferGGCRLayers(t *testing.T) {
	dir := t.TempDir()
	img := empty.Image
	for _, seed := range []string{"one", "two"} {
		tb := testTar(t, seed)
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tb)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	im := loadOne(t, layoutStore{dir})
	ls, err := Layers(context.Background(), layoutStore{dir}, im, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 {
		t.Fatalf("%d layers", len(ls))
	}
	for _, l := range ls {
		if l.StoredCompression != image.Gzip {
			t.Errorf("layer %d stored as %s, want gzip", l.Index, l.StoredCompression)
		}
		c := candidate(l, "go-gzip-1")
		if c.Digest != l.Stored.Digest || c.Size != l.Stored.Size {
			t.Errorf("layer %d: go-gzip-1 gives %s (%d B), ggcr wrote %s (%d B)", l.Index, c.Digest, c.Size, l.Stored.Digest, l.Stored.Size)
		}
		if g6 := candidate(l, "go-gzip-6"); g6.Digest == l.Stored.Digest {
			t.Errorf("layer %d: level 6 also reproduces the level-1 digest: the test input does not tell levels apart", l.Index)
		}
	}
	// Against the image itself: every layer matched by go-gzip-1 or stored.
	served := servedOf(im)
	n, err := Against(ls, served)
	if err != nil || n != 2 {
		t.Fatalf("Against = %d, %v", n, err)
	}
	for _, l := range ls {
		if l.Match != "stored" {
			t.Errorf("layer %d match %q, want stored", l.Index, l.Match)
		}
	}
}

func servedOf(im *image.Image) (p provenance.Image) {
	for _, l := range im.Layers {
		p.DiffIDs = append(p.DiffIDs, l.DiffID)
		p.Layers = append(p.Layers, l.Descriptor.Digest)
	}
	return p
}

// Every profile must give the same bytes whatever the write sizes and
// GOMAXPROCS, or its digests mean nothing.
func TestProfilesDeterministic(t *testing.T) {
	tb := testTar(t, "det")
	for _, p := range Profiles() {
		t.Run(p.Name, func(t *testing.T) {
			var outs []string
			for _, step := range []int{len(tb), 1000, 64 << 10, 3<<20 + 7} {
				var buf bytes.Buffer
				zw, err := p.NewWriter(&buf)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < len(tb); i += step {
					zw.Write(tb[i:min(i+step, len(tb))])
				}
				if err := zw.Close(); err != nil {
					t.Fatal(err)
				}
				outs = append(outs, string(image.FromBytes(buf.Bytes())))
				if strings.HasPrefix(p.Name, "pgzip") && !bytes.Equal(buf.Bytes()[4:8], []byte{0x00, 0x09, 0x6e, 0x88}) {
					t.Errorf("pgzip MTIME %x, want 00096e88", buf.Bytes()[4:8])
				}
			}
			for _, o := range outs[1:] {
				if o != outs[0] {
					t.Fatalf("output depends on write sizes: %v", outs)
				}
			}
		})
	}
}

func TestCaveatNamesVersions(t *testing.T) {
	c := Caveat()
	if !strings.Contains(c, "go1.") || !strings.Contains(c, "Go 1.27") {
		t.Errorf("caveat does not name the Go version: %s", c)
	}
}
