package scrub_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stratascan/strata/internal/testtool"
	"github.com/stratascan/strata/scrub"
)

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	bin := testtool.Require(t, name)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// TestPodmanLoad: the scrubbed docker-archive loads with podman load, and
// the image podman stored (saved back as an oci-archive) shows the same
// filesystem as the scrubbed image.
func TestPodmanLoad(t *testing.T) {
	testtool.Require(t, "podman")
	ctx := testCtx(t)
	ref, _ := writeLayout(t, leakyImage(t))
	src := open(t, ctx, ref)
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: []string{"/app/.env", "/root/.ssh/id_ed25519"}, Env: []string{"GITHUB_TOKEN"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	archive := filepath.Join(dir, "scrubbed.tar")
	if _, err := p.Apply(ctx, scrub.Destination{Ref: "docker-archive:" + archive + ":leaky/app:clean"}); err != nil {
		t.Fatal(err)
	}
	pod := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"), "--storage-driver", "vfs"}
	out := run(t, "podman", append(pod, "load", "-i", archive)...)
	if !strings.Contains(string(out), "leaky/app:clean") {
		t.Fatalf("podman load: %s", out)
	}
	saved := filepath.Join(dir, "saved.tar")
	run(t, "podman", append(pod, "save", "--format", "oci-archive", "-o", saved, "localhost/leaky/app:clean")...)
	ours := open(t, ctx, "docker-archive:"+archive)
	theirs := open(t, ctx, "oci-archive:"+saved)
	want := finalFS(t, ctx, ours.store, single(t, ours.root))
	got := finalFS(t, ctx, theirs.store, single(t, theirs.root))
	if d := diffFS(want, got, func(string) bool { return false }); len(d) > 0 {
		t.Fatalf("podman's image differs from the scrubbed one:\n%s", strings.Join(d, "\n"))
	}
	if _, ok := got["app/.env"]; ok {
		t.Fatal("podman's image shows /app/.env")
	}
}

// TestUmociUnpack: umoci unpack of the scrubbed image gives the original's
// root filesystem except the removed paths, compared entry by entry.
func TestUmociUnpack(t *testing.T) {
	testtool.Require(t, "umoci")
	ctx := testCtx(t)
	dir := t.TempDir()
	srcDir := filepath.Join(dir, "src")
	img := leakyImage(t)
	img.Layers[2].Compression = "gzip" // Debian's umoci does not read zstd layers
	writeLayoutAt(t, srcDir, img)
	src := open(t, ctx, "oci:"+srcDir+":latest")
	removed := []string{"/etc/os-release", "/root/.ssh/known_hosts", "/app/.env"}
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: removed}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Apply(ctx, scrub.Destination{Ref: "oci:" + srcDir + ":clean"}); err != nil {
		t.Fatal(err)
	}
	run(t, "umoci", "unpack", "--image", srcDir+":latest", filepath.Join(dir, "a"))
	run(t, "umoci", "unpack", "--image", srcDir+":clean", filepath.Join(dir, "b"))
	before, after := tree(t, filepath.Join(dir, "a", "rootfs")), tree(t, filepath.Join(dir, "b", "rootfs"))
	if len(before) < 10 {
		t.Fatalf("unpacked only %d entries", len(before))
	}
	d := diffFS(before, after, func(p string) bool { return p == "etc/os-release" })
	if len(d) > 0 {
		t.Fatalf("umoci rootfs differs beyond the removed paths:\n%s", strings.Join(d, "\n"))
	}
	if _, ok := after["etc/os-release"]; ok {
		t.Fatal("/etc/os-release still unpacks")
	}
}

// tree lists a directory: path -> mode, owner, mtime, link target, sha256.
func tree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		link, sum := "", ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			link, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			h := sha256.Sum256(mustReadFile(t, p))
			sum = hex.EncodeToString(h[:8])
		}
		mt := fi.ModTime().UTC().String()
		if fi.IsDir() {
			mt = "" // umoci sets directory times after unpacking children; compare contents, not dir times
		}
		out[filepath.ToSlash(rel)] = fmt.Sprintf("%v %d:%d %s %q %s", fi.Mode(), st.Uid, st.Gid, mt, link, sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
