package layout_test

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/source"
	"github.com/stratascan/strata/source/layout"
)

// loadOne opens ref, loads it and returns its only image.
func loadOne(t *testing.T, s content.Store) *image.Image {
	t.Helper()
	root, err := source.Load(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := source.Select(root, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return ims[0]
}

func walkLayer0(ctx context.Context, s content.Store, im *image.Image) error {
	_, err := inspect.WalkLayer(ctx, s, im, 0, inspect.Options{}, func(*layer.Entry, io.Reader) error { return nil })
	return err
}

// manifestOf reads the manifest of the image tagged tag in the layout at dir.
func manifestOf(t *testing.T, dir string, d image.Descriptor) image.Manifest {
	t.Helper()
	raw, err := os.ReadFile(fixture.BlobPath(dir, d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	var m image.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A layout blob that is a symbolic link (to /dev/zero, to a host file) or a
// FIFO is refused with ErrNotRegular at once; it used to make ls spin
// forever on /dev/zero.
func TestLayoutBlobNotRegular(t *testing.T) {
	for _, c := range []struct {
		name string
		make func(t *testing.T, p string)
	}{
		{"symlink to /dev/zero", func(t *testing.T, p string) { must(t, os.Symlink("/dev/zero", p)) }},
		{"symlink to a host file", func(t *testing.T, p string) {
			host := filepath.Join(t.TempDir(), "host-secret")
			must(t, os.WriteFile(host, []byte("not image content"), 0o600))
			must(t, os.Symlink(host, p))
		}},
		{"fifo", func(t *testing.T, p string) { must(t, mkfifo(p)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			d := fixture.WriteLayout(t, dir, "x", small("x"))
			l := manifestOf(t, dir, d).Layers[0]
			p := fixture.BlobPath(dir, l.Digest)
			must(t, os.Remove(p))
			c.make(t, p)
			s, err := source.Open(ctx, "oci:"+dir+":x", source.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			im := loadOne(t, s)
			done := make(chan error, 1)
			go func() { done <- walkLayer0(ctx, s, im) }()
			select {
			case err := <-done:
				if !errors.Is(err, layout.ErrNotRegular) {
					t.Fatalf("walk: %v, want ErrNotRegular", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("walking a non-regular blob did not stop")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Layout metadata that is a FIFO or a device is refused at once, not opened
// (a FIFO's open blocks forever).
func TestLayoutMetadataNotRegular(t *testing.T) {
	for _, name := range []string{"index.json", "oci-layout"} {
		dir := t.TempDir()
		fixture.WriteLayout(t, dir, "x", small("x"))
		must(t, os.Remove(filepath.Join(dir, name)))
		must(t, mkfifo(filepath.Join(dir, name)))
		err := within(t, 10*time.Second, func() error { _, err := layout.OpenOCIDir(ctx, dir, "x"); return err })
		if !errors.Is(err, layout.ErrNotRegular) {
			t.Errorf("%s as a FIFO: %v, want ErrNotRegular", name, err)
		}
	}
	dir := t.TempDir()
	fixture.WriteLayout(t, dir, "x", small("x"))
	must(t, os.Remove(filepath.Join(dir, "index.json")))
	must(t, os.Symlink("/dev/zero", filepath.Join(dir, "index.json")))
	if _, err := layout.OpenOCIDir(ctx, dir, "x"); !errors.Is(err, layout.ErrNotRegular) {
		t.Errorf("index.json linked to /dev/zero: %v, want ErrNotRegular", err)
	}
}

// A layer addressed by a digest algorithm strata cannot verify
// (foo:hostlayer, its blob a symbolic link to a host file) is refused, not
// read as image content; a sha512 layer is verified like a sha256 one.
func TestLayoutDigestAlgorithms(t *testing.T) {
	dir := t.TempDir()
	fixture.Init(t, dir)
	tarb := fixture.Tar(t, []fixture.File{{Path: "etc/app", Body: []byte("app")}})
	other := fixture.Tar(t, []fixture.File{{Path: "etc/app", Body: []byte("made-up")}})
	sum512 := func(b []byte) image.Digest {
		h := sha512.Sum512(b)
		return image.Digest("sha512:" + hex.EncodeToString(h[:]))
	}
	host := filepath.Join(t.TempDir(), "hostlayer")
	must(t, os.WriteFile(host, tarb, 0o600))
	must(t, os.MkdirAll(filepath.Join(dir, "blobs", "foo"), 0o755))
	must(t, os.Symlink(host, filepath.Join(dir, "blobs", "foo", "hostlayer")))
	must(t, os.MkdirAll(filepath.Join(dir, "blobs", "sha512"), 0o755))
	good512 := sum512(tarb)
	must(t, os.WriteFile(filepath.Join(dir, "blobs", "sha512", good512.Hex()), tarb, 0o644))
	// A sha512 digest whose file holds other content.
	lying512 := sum512([]byte("something else"))
	must(t, os.WriteFile(filepath.Join(dir, "blobs", "sha512", lying512.Hex()), other, 0o644))

	for _, c := range []struct {
		name   string
		digest image.Digest
		size   int64
		want   error
	}{
		{"unknown algorithm", "foo:hostlayer", int64(len(tarb)), image.ErrUnsupportedAlgorithm},
		{"sha512 made-up content", lying512, int64(len(other)), content.ErrDigestMismatch},
		{"sha512 good", good512, int64(len(tarb)), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := image.Descriptor{MediaType: image.MediaTypeOCILayer, Digest: c.digest, Size: c.size}
			cfg := fixture.WriteBlob(t, dir, image.MediaTypeOCIConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["`+string(image.FromBytes(tarb))+`"]}}`))
			raw, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cfg, Layers: []image.Descriptor{l}})
			md := fixture.WriteBlob(t, dir, image.MediaTypeOCIManifest, raw)
			fixture.AddRef(t, dir, md, c.name)
			s, err := source.Open(ctx, "oci:"+dir+":"+c.name, source.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = walkLayer0(ctx, s, loadOne(t, s))
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("walk: %v, want %v", err, c.want)
			}
			// Open itself refuses the unknown algorithm.
			if c.want == image.ErrUnsupportedAlgorithm {
				if _, err := s.Open(ctx, l); !errors.Is(err, image.ErrUnsupportedAlgorithm) {
					t.Fatalf("Open(foo:hostlayer) = %v", err)
				}
			}
		})
	}
}

// endlessFS serves a layout from base but makes one blob an endless stream
// of zeros that says it is a small regular file, counting what is read.
type endlessFS struct {
	fs.FS
	blob string
	read atomic.Int64
}

func (e *endlessFS) Open(name string) (fs.File, error) {
	if name != e.blob {
		return e.FS.Open(name)
	}
	return &endlessFile{fs: e}, nil
}

type endlessFile struct{ fs *endlessFS }

func (f *endlessFile) Read(p []byte) (int, error) {
	clear(p)
	f.fs.read.Add(int64(len(p)))
	return len(p), nil
}
func (f *endlessFile) Close() error { return nil }
func (f *endlessFile) Stat() (fs.FileInfo, error) {
	return fstest.MapFS{"f": {Data: []byte("x")}}.Stat("f")
}

// Every blob read stops one byte past the declared size: a blob that never
// ends costs size+1 bytes and a size mismatch, not an endless loop; and a
// long read stops within a second of cancellation.
func TestLayoutBlobReadBounded(t *testing.T) {
	dir := t.TempDir()
	d := fixture.WriteLayout(t, dir, "x", small("x"))
	m := manifestOf(t, dir, d)
	l := m.Layers[0]
	efs := &endlessFS{FS: os.DirFS(dir), blob: "blobs/sha256/" + l.Digest.Hex()}
	s, err := layout.OCI(ctx, efs, "x")
	if err != nil {
		t.Fatal(err)
	}
	im := loadOne(t, s)
	err = within(t, 10*time.Second, func() error { return walkLayer0(ctx, s, im) })
	if !errors.Is(err, content.ErrSizeMismatch) {
		t.Fatalf("walk of an endless blob: %v, want ErrSizeMismatch", err)
	}
	if n := efs.read.Load(); n > l.Size+1 {
		t.Errorf("read %d bytes of a %d-byte blob, want at most size+1", n, l.Size)
	}

	// Declared huge: the read goes on until cancelled, then stops at once.
	im.Layers[0].Descriptor.Size = 1 << 50
	im.Layers[0].DiffID = ""
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- walkLayer0(cctx, s, im) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled walk: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the read loop ignored cancellation for a second")
	}
}

// A dir: copy without a version file (older skopeo, other tools' fixtures)
// is read.
func TestDirWithoutVersion(t *testing.T) {
	lay := t.TempDir()
	fixture.WriteLayout(t, lay, "x", small("x"))
	out := filepath.Join(t.TempDir(), "d")
	fixture.DirCopy(t, lay, "x", out)
	must(t, os.Remove(filepath.Join(out, "version")))
	s, err := source.Open(ctx, "dir:"+out, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := walkLayer0(ctx, s, loadOne(t, s)); err != nil {
		t.Fatal(err)
	}
}

// within runs f and fails the test when it does not return in d.
func within(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
		return nil
	}
}

// A tampered layer whose altered bytes also break its tar (or gzip)
// structure is reported as the digest mismatch it is, not as a tar error.
func TestTamperedLayerReportsDigestFirst(t *testing.T) {
	for _, compression := range []string{"gzip", "none"} {
		t.Run(compression, func(t *testing.T) {
			dir := t.TempDir()
			img := fixture.Image{Layers: []fixture.Layer{{Compression: compression, Files: []fixture.File{
				{Path: "a", Body: make([]byte, 4096)}, {Path: "b", Body: []byte("b")}}}}}
			d := fixture.WriteLayout(t, dir, "x", img)
			l := manifestOf(t, dir, d).Layers[0]
			p := fixture.BlobPath(dir, l.Digest)
			b, err := os.ReadFile(p)
			must(t, err)
			// Overwrite a stretch in the middle (gzip: the deflate stream;
			// tar: the second header), same size.
			at := len(b) / 2
			if compression == "none" {
				at = 512 + 4096
			}
			for i := at; i < at+64 && i < len(b); i++ {
				b[i] ^= 0x5a
			}
			must(t, os.WriteFile(p, b, 0o644))
			s, err := source.Open(ctx, "oci:"+dir+":x", source.Options{})
			must(t, err)
			defer s.Close()
			err = walkLayer0(ctx, s, loadOne(t, s))
			var de *content.DigestError
			if !errors.As(err, &de) || de.Want != l.Digest {
				t.Fatalf("tampered layer: %v, want a digest mismatch on %s", err, l.Digest)
			}
		})
	}
}
