package inspect

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/source"
)

// blobDir is the smallest honest store: an OCI layout's blobs read from disk.
type blobDir struct {
	dir  string
	root image.Descriptor
}

func (b blobDir) Root(context.Context) (image.Descriptor, error) { return b.root, nil }
func (b blobDir) Open(_ context.Context, d image.Descriptor) (io.ReadCloser, error) {
	return os.Open(fixture.BlobPath(b.dir, d.Digest))
}
func (b blobDir) Close() error { return nil }

func load(t *testing.T, img fixture.Image) (blobDir, *image.Image) {
	t.Helper()
	dir := t.TempDir()
	d := fixture.WriteLayout(t, dir, "latest", img)
	s := blobDir{dir: dir, root: d}
	root, err := source.Load(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := source.Select(root, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return s, ims[0]
}

func leakyImage() fixture.Image {
	return fixture.Image{Layers: []fixture.Layer{
		{CreatedBy: "COPY . /app", Files: []fixture.File{
			{Path: "app", Type: tar.TypeDir},
			{Path: "app/.env", Body: []byte("TOKEN=s3cr3t-value\n")},
			{Path: "app/main.py", Body: []byte("print('hi')\n")},
			{Path: "cache", Type: tar.TypeDir},
			{Path: "cache/blob", Body: bytes.Repeat([]byte("c"), 1000)},
		}},
		{CreatedBy: "RUN rm /app/.env", Compression: "zstd", Files: []fixture.File{
			{Path: "app/.wh..env"},
		}},
		{CreatedBy: "RUN build", Compression: "none", Files: []fixture.File{
			{Path: "app/main.py", Body: []byte("print('v2')\n")},
			{Path: "cache/.wh..wh..opq"},
			{Path: "cache/new", Body: []byte("n")},
		}},
	}}
}

func TestAnalyze(t *testing.T) {
	s, im := load(t, leakyImage())
	a, err := Analyze(context.Background(), s, im, Options{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, r := range a.Rows("") {
		hb := -1
		if r.HiddenBy != nil {
			hb = *r.HiddenBy
		}
		states[string(rune('0'+r.Layer))+":"+r.Path] = string(r.State) + "@" + string(rune('0'+hb))
	}
	for k, want := range map[string]string{
		"0:app/.env":    "deleted@1",
		"0:app/main.py": "overwritten@2",
		"0:cache/blob":  "deleted@2",
		"2:app/main.py": "present@/",
		"2:cache/new":   "present@/",
	} {
		if states[k] != want {
			t.Errorf("%s = %s, want %s", k, states[k], want)
		}
	}
	if a.Layers[1].Compression != image.Zstd || a.Layers[2].Compression != image.Uncompressed {
		t.Errorf("compressions %s %s", a.Layers[1].Compression, a.Layers[2].Compression)
	}
	if a.Layers[0].CreatedBy != "COPY . /app" || a.Layers[1].Stats.Deleted != 1 || a.Layers[2].Stats.Modified != 1 {
		t.Errorf("layer info %+v", a.Layers)
	}
	if got := a.Wasted(); got != int64(len("TOKEN=s3cr3t-value\n")+len("print('hi')\n")+1000) {
		t.Errorf("wasted = %d", got)
	}
	var final []string
	for _, r := range a.FinalRows("") {
		final = append(final, r.Path)
	}
	if strings.Join(final, ",") != "app,app/main.py,cache,cache/new" {
		t.Errorf("final = %v", final)
	}
}

func TestReadFileRecoversDeleted(t *testing.T) {
	s, im := load(t, leakyImage())
	var buf bytes.Buffer
	info, err := ReadFile(context.Background(), s, im, "/app/.env", -1, &buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != "TOKEN=s3cr3t-value\n" || info.Layer != 0 || info.State != overlay.Deleted || info.HiddenBy != 1 {
		t.Fatalf("got %q %+v", buf.String(), info)
	}
	buf.Reset()
	info, err = ReadFile(context.Background(), s, im, "app/main.py", 0, &buf, Options{})
	if err != nil || buf.String() != "print('hi')\n" || info.State != overlay.Overwritten {
		t.Fatalf("layer 0 main.py: %q %+v %v", buf.String(), info, err)
	}
	if _, err := ReadFile(context.Background(), s, im, "nope", -1, io.Discard, Options{}); !errors.Is(err, ErrNoSuchFile) {
		t.Fatalf("missing file err = %v", err)
	}
	if _, err := ReadFile(context.Background(), s, im, "app", -1, io.Discard, Options{}); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("dir err = %v", err)
	}
}

func TestExtractFinalAndLayer(t *testing.T) {
	s, im := load(t, leakyImage())
	out := t.TempDir()
	st, err := Extract(context.Background(), s, im, out, ExtractOptions{Layer: -1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "app/main.py")); string(b) != "print('v2')\n" {
		t.Errorf("main.py = %q", b)
	}
	for _, gone := range []string{"app/.env", "cache/blob"} {
		if _, err := os.Stat(filepath.Join(out, gone)); !os.IsNotExist(err) {
			t.Errorf("%s extracted from final FS: %v", gone, err)
		}
	}
	if st.Files != 2 {
		t.Errorf("files = %d", st.Files)
	}
	out0 := t.TempDir()
	if _, err := Extract(context.Background(), s, im, out0, ExtractOptions{Layer: 0, Prefix: "app"}, Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out0, "app/.env")); string(b) != "TOKEN=s3cr3t-value\n" {
		t.Errorf("layer 0 .env = %q", b)
	}
	if _, err := os.Stat(filepath.Join(out0, "cache")); !os.IsNotExist(err) {
		t.Errorf("--path app extracted cache/")
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	outside := t.TempDir()
	img := fixture.Image{Layers: []fixture.Layer{
		{Files: []fixture.File{
			{Path: "evil", Type: tar.TypeSymlink, Linkname: outside},
			{Path: "rel", Type: tar.TypeSymlink, Linkname: "../../../../../../" + outside},
			{Path: "../../climb", Body: []byte("x")},
			{Path: "dev/sda", Type: tar.TypeBlock, Devmajor: 8},
			{Path: "ok", Body: []byte("fine")},
		}},
		{Files: []fixture.File{
			{Path: "evil/pwned", Body: []byte("owned")},
			{Path: "rel/pwned2", Body: []byte("owned")},
		}},
	}}
	s, im := load(t, img)
	for _, layerSel := range []int{-1, 1} {
		out := t.TempDir()
		st, err := Extract(context.Background(), s, im, out, ExtractOptions{Layer: layerSel}, Options{})
		if layerSel == 1 {
			// Layer 1 alone has no symlinks: its files land in real dirs.
			if err != nil || st.Files != 2 {
				t.Fatalf("layer 1: %+v %v", st, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(outside)
		if len(ents) != 0 {
			t.Fatalf("extract wrote outside its directory: %v", ents)
		}
		reasons := map[string]string{}
		for _, r := range st.Refused {
			reasons[r.Path] = r.Reason
		}
		for _, p := range []string{"climb", "dev/sda", "evil/pwned", "rel/pwned2"} {
			if reasons[p] == "" {
				t.Errorf("%s not refused; refused = %+v", p, st.Refused)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(out, "ok")); string(b) != "fine" {
			t.Errorf("safe file not written")
		}
	}
}

func TestExtractByteCap(t *testing.T) {
	// A gzip bomb in miniature: 8 MiB of zeros compresses to a few KiB.
	img := fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "zeros", Body: make([]byte, 8<<20)}}}}}
	s, im := load(t, img)
	_, err := Extract(context.Background(), s, im, t.TempDir(), ExtractOptions{Layer: 0, MaxBytes: 1 << 20}, Options{})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want ErrLimit", err)
	}
}

func TestUnknownLayerMediaTypes(t *testing.T) {
	dir := t.TempDir()
	d := fixture.WriteLayout(t, dir, "v", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "a", Body: []byte("x")}}}}})
	raw, _ := os.ReadFile(fixture.BlobPath(dir, d.Digest))
	var m image.Manifest
	json.Unmarshal(raw, &m)
	cfgRaw, _ := os.ReadFile(fixture.BlobPath(dir, m.Config.Digest))
	var cfg map[string]any
	json.Unmarshal(cfgRaw, &cfg)
	// Layer 0 keeps its bytes under a made-up media type; layer 1 is not a tar at all.
	m.Layers[0].MediaType = "application/vnd.example.layer.v1"
	junk := fixture.WriteBlob(t, dir, "application/vnd.example.blob", []byte("not a tar, just some bytes"))
	m.Layers = append(m.Layers, junk)
	rootfs := cfg["rootfs"].(map[string]any)
	rootfs["diff_ids"] = append(rootfs["diff_ids"].([]any), string(junk.Digest))
	cb, _ := json.Marshal(cfg)
	m.Config = fixture.WriteBlob(t, dir, image.MediaTypeOCIConfig, cb)
	mb, _ := json.Marshal(m)
	md := fixture.WriteBlob(t, dir, image.MediaTypeOCIManifest, mb)
	s := blobDir{dir: dir, root: md}
	root, err := source.Load(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a, err := Analyze(context.Background(), s, root.Image, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Listing.Layers[0]) != 1 || a.Listing.Layers[0][0].Path != "a" {
		t.Errorf("tar under an unknown media type not walked: %+v", a.Listing.Layers[0])
	}
	if len(a.Listing.Layers[1]) != 0 || !strings.Contains(logs.String(), "skipped layer of unknown media type") {
		t.Errorf("non-tar layer not skipped with a warning; logs:\n%s", logs.String())
	}
}

// TestReadFileVerifiesLayer: the file is at the start of a layer whose blob
// was swapped for other bytes; cat still walks to the end, so the digest
// check fires instead of the bytes passing unverified.
func TestReadFileVerifiesLayer(t *testing.T) {
	s, im := load(t, fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{
		{Path: "first", Body: []byte("wanted")}, {Path: "second", Body: []byte("original")},
	}}}})
	swapped := fixture.Compress(t, fixture.Tar(t, []fixture.File{
		{Path: "first", Body: []byte("wanted")}, {Path: "second", Body: []byte("tampered")},
	}), "gzip")
	if err := os.WriteFile(fixture.BlobPath(s.dir, im.Layers[0].Descriptor.Digest), swapped, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(context.Background(), s, im, "first", -1, io.Discard, Options{})
	if !errors.Is(err, content.ErrDigestMismatch) && !errors.Is(err, content.ErrSizeMismatch) {
		t.Fatalf("err = %v, want a verification failure", err)
	}
}
