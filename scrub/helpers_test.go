package scrub_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/scrub"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/source"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Fake secrets, made for these tests.
const (
	envToken   = "ghp_R8mK2vX9qL4tZ7wN1pB6cY3hJ5gF0aD8sEeQ"
	zipToken   = "ghp_Zq7Lw2Nx5Vb8Mc1Kd4Hf6Jg9Ps3Rt0Yu2IoE"
	npmToken   = "npm_Xa9Rq2Lm7Kp4Wz8Nc3Vb6Ty1Hg5Jd0FsUeQo"
	stripeKey  = "sk_live_51Mq8ZtKd9vR2xW7pL3nB6cY4hJ0gF5aT"
	privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
		"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" +
		"QyNTUxOQAAACBzYW1wbGUta2V5LWZvci1zdHJhdGEtZGVtby0wMDAwMDAwAAAAoHNhbXBs\n" +
		"ZS1rZXktZm9yLXN0cmF0YS1kZW1vLTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMD\n" +
		"-----END OPENSSH PRIVATE KEY-----\n"
)

// zipOf builds a zip with Go's archive/zip (deflate, fixed times).
func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate, Modified: fixture.Epoch})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// leakyImage is the scenario: a .env added in layer 1 and deleted
// in layer 2, an SSH key under a directory layer 3 makes opaque, a token
// in a zip inside layer 1, a build arg in history and a token in Env.
func leakyImage(t testing.TB) fixture.Image {
	dir := func(p string) fixture.File { return fixture.File{Path: p, Type: tar.TypeDir} }
	return fixture.Image{
		Layers: []fixture.Layer{
			{CreatedBy: "ADD rootfs.tar /", Files: []fixture.File{
				dir("etc"), dir("usr"), dir("usr/bin"), dir("root"),
				{Path: "etc/os-release", Body: []byte("ID=sample\n")},
				{Path: "usr/bin/sh", Body: []byte("\x7fELF fake"), Mode: 0o755},
				{Path: "usr/bin/env", Type: tar.TypeSymlink, Linkname: "sh"},
			}},
			{CreatedBy: "COPY . /app", Files: []fixture.File{
				dir("app"),
				{Path: "app/main.py", Body: []byte("print('hi')\n")},
				{Path: "app/.env", Body: []byte("DEBUG=false\nSTRIPE_API_KEY=" + stripeKey + "\n")},
				{Path: "app/lib.zip", Body: zipOf(t, map[string]string{"conf/token.txt": "token: " + zipToken + "\n", "readme.txt": "hello\n"})},
				{Path: "root/.ssh", Type: tar.TypeDir, Mode: 0o700},
				{Path: "root/.ssh/id_ed25519", Body: []byte(privateKey), Mode: 0o600},
				{Path: "root/.ssh/known_hosts", Body: []byte("example.com ssh-ed25519 AAAA\n")},
			}},
			{CreatedBy: "RUN |1 NPM_TOKEN=" + npmToken + " /bin/sh -c npm ci && rm /app/.env", Compression: "zstd", Files: []fixture.File{
				{Path: "app/.wh..env"},
				{Path: "app/package-lock.json", Body: []byte("{}\n")},
			}},
			{CreatedBy: "RUN rm -rf /root/.ssh && mkdir /root/.ssh", Files: []fixture.File{
				{Path: "root/.ssh", Type: tar.TypeDir, Mode: 0o700},
				{Path: "root/.ssh/.wh..wh..opq"},
				{Path: "root/.ssh/authorized_keys", Body: []byte("ssh-ed25519 AAAA user\n")},
			}},
		},
		Env:    []string{"PATH=/usr/bin", "GITHUB_TOKEN=" + envToken},
		Labels: map[string]string{"org.opencontainers.image.title": "leaky"},
		Annotations: map[string]string{
			image.AnnotationBaseName: "example/base:1", image.AnnotationBaseDigest: "sha256:" + strings.Repeat("ab", 32),
		},
	}
}

// opened is an image opened from a reference.
type opened struct {
	store content.Store
	root  *image.Node
}

func open(t testing.TB, ctx context.Context, ref string) opened {
	t.Helper()
	s, err := source.Open(ctx, ref, source.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", ref, err)
	}
	t.Cleanup(func() { s.Close() })
	root, err := source.Load(ctx, s, nil)
	if err != nil {
		t.Fatalf("load %s: %v", ref, err)
	}
	return opened{s, root}
}

func writeLayout(t testing.TB, img fixture.Image) (string, image.Descriptor) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	d := fixture.WriteLayout(t, dir, "latest", img)
	return "oci:" + dir + ":latest", d
}

func engine(t testing.TB) *secret.Engine {
	t.Helper()
	eng, err := secret.New(secret.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// findings scans an image and round-trips the result through the JSON
// that strata scan --format json writes.
func findings(t testing.TB, ctx context.Context, o opened, eng *secret.Engine) []scan.Finding {
	t.Helper()
	ims, err := source.Select(o.root, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(ctx, []scan.Target{{Ref: "x", Store: o.store, Root: o.root, Images: ims}}, scan.Options{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jsonEncode(&buf, res); err != nil {
		t.Fatal(err)
	}
	fs, err := scrub.ReadFindings(&buf, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// finalFS lists the final filesystem of one image: path -> what a
// filesystem shows (type, mode, owner, mtime, link target, size, sha256).
func finalFS(t testing.TB, ctx context.Context, s content.Store, im *image.Image) map[string]string {
	t.Helper()
	layers := make([][]*layer.Entry, len(im.Layers))
	sums := make([]map[string]string, len(im.Layers))
	for i, l := range im.Layers {
		rc, err := s.Open(ctx, l.Descriptor)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = map[string]string{}
		_, err = layer.Walk(ctx, rc, l.Descriptor, l.DiffID, layer.Options{}, func(e *layer.Entry, r io.Reader) error {
			layers[i] = append(layers[i], e)
			if r != nil {
				h := sha256.New()
				io.Copy(h, r)
				sums[i][e.Path] = hex.EncodeToString(h.Sum(nil))[:16]
			}
			return nil
		})
		rc.Close()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	out := map[string]string{}
	for _, fe := range overlay.NewListing(layers).Final() {
		e := fe.Entry
		typ := e.Type
		sum := sums[fe.Layer][e.Path]
		if typ == layer.TypeHardlink {
			// A hard link shows its target's content.
			typ, sum = layer.TypeFile, sums[fe.Layer][e.Linkname]
		}
		link := e.Linkname
		if e.Type == layer.TypeHardlink {
			link = ""
		}
		out[e.Path] = fmt.Sprintf("%s %v %d:%d %s %q %s", typ, e.Mode, e.UID, e.GID, e.ModTime.UTC().Format(time.RFC3339Nano), link, sum)
	}
	return out
}

func single(t testing.TB, root *image.Node) *image.Image {
	t.Helper()
	ims, err := source.Select(root, nil, true)
	if err != nil || len(ims) != 1 {
		t.Fatalf("want one image, got %d (%v)", len(ims), err)
	}
	return ims[0]
}

// diffFS compares two final filesystems, allowing differences only at
// paths for which allowed returns true.
func diffFS(before, after map[string]string, allowed func(string) bool) []string {
	var out []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case allowed(p):
		case !ok:
			out = append(out, "missing /"+p)
		case a != b:
			out = append(out, fmt.Sprintf("/%s: %s -> %s", p, b, a))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok && !allowed(p) {
			out = append(out, "new /"+p)
		}
	}
	sort.Strings(out)
	return out
}

func mustReadFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tarReader opens a (gzip) layer blob as a tar stream.
func tarReader(t testing.TB, r io.Reader) *tar.Reader {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	return tar.NewReader(zr)
}

func writeLayoutAt(t testing.TB, dir string, img fixture.Image) {
	t.Helper()
	fixture.WriteLayout(t, dir, "latest", img)
}
