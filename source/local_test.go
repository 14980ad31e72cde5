package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/internal/testtool"
)

// TestOpenLocalForms: every local form, named by its bare path, opens as
// the image it holds, the same image as the shipped sample.
func TestOpenLocalForms(t *testing.T) {
	skopeo := testtool.Require(t, "skopeo")
	ctx := context.Background()
	dir := t.TempDir()
	const sample = "oci:../examples/leaky-app:latest"
	copyFrom := func(src, dest string, extra ...string) {
		t.Helper()
		args := append([]string{"copy", "-q"}, extra...)
		out, err := exec.CommandContext(ctx, skopeo, append(args, src, dest)...).CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo copy %s: %v\n%s", dest, err, out)
		}
	}
	copyTo := func(dest string) { t.Helper(); copyFrom(sample, dest) }
	forms := map[string]string{
		"oci layout":  filepath.Join(dir, "layout"),
		"skopeo dir":  filepath.Join(dir, "dircopy"),
		"oci-archive": filepath.Join(dir, "img.oci.tar"),
		"docker save": filepath.Join(dir, "img.docker.tar"),
	}
	copyTo("oci:" + forms["oci layout"] + ":latest")
	copyTo("dir:" + forms["skopeo dir"])
	copyTo("oci-archive:" + forms["oci-archive"] + ":latest")
	// docker-archive cannot hold zstd layers: recompress them first.
	gzLayout := "oci:" + filepath.Join(dir, "gz") + ":latest"
	copyFrom(sample, gzLayout, "--dest-compress", "--dest-compress-format", "gzip")
	copyFrom(gzLayout, "docker-archive:"+forms["docker save"]+":example.test/leaky:1")
	// A gzip-compressed oci-archive (as `buildx -o type=oci | gzip` gives).
	raw, _ := os.ReadFile(forms["oci-archive"])
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	forms["gzip oci-archive"] = filepath.Join(dir, "img.oci.tar.gz")
	os.WriteFile(forms["gzip oci-archive"], gz.Bytes(), 0o644)

	want := loadConfig(t, ctx, sample)
	for name, p := range forms {
		t.Run(name, func(t *testing.T) {
			r, err := ParseReference(p)
			if err != nil || r.Transport != TransportLocal {
				t.Fatalf("ParseReference(%s) = %+v, %v", p, r, err)
			}
			if got := loadConfig(t, ctx, p); got != want {
				t.Errorf("config %s, want the sample's %s", got, want)
			}
		})
	}
	// A directory of the wrong kind, and a tarball of files.
	for _, p := range []string{t.TempDir(), forms["skopeo dir"] + "/version"} {
		if _, err := Open(ctx, p, Options{}); !errors.Is(err, ErrNotImage) {
			t.Errorf("Open(%s) = %v, want ErrNotImage", p, err)
		}
	}
}

// loadConfig opens ref and returns its single image's config digest.
func loadConfig(t *testing.T, ctx context.Context, ref string) string {
	t.Helper()
	s, err := Open(ctx, ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root, err := Load(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := Select(root, nil, true)
	if err != nil || len(ims) != 1 {
		t.Fatalf("select: %d images, %v", len(ims), err)
	}
	return string(ims[0].ConfigRef.Digest)
}
