package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/source/archive"
)

func writeTar(t *testing.T, files []fixture.File) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(p, fixture.Tar(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openTar(t *testing.T, p string) *archive.TarFS {
	t.Helper()
	tfs, err := archive.OpenTar(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tfs.Close() })
	return tfs
}

var big = bytes.Repeat([]byte("0123456789abcdef"), 4096)

func TestTarFSConformance(t *testing.T) {
	p := writeTar(t, []fixture.File{
		{Path: "./index.json", Body: []byte(`{}`)},
		{Path: "blobs/", Type: tar.TypeDir},
		{Path: "blobs/sha256/abc", Body: big},
		{Path: "blobs/sha256/empty"},
		{Path: "deep/er/file", Body: []byte("x")},
		{Path: "link", Type: tar.TypeSymlink, Linkname: "blobs/sha256/abc"},
		{Path: "deep/rel", Type: tar.TypeSymlink, Linkname: "../index.json"},
		{Path: "hard", Type: tar.TypeLink, Linkname: "deep/er/file"},
	})
	tfs := openTar(t, p)
	if err := fstest.TestFS(tfs, "index.json", "blobs/sha256/abc", "blobs/sha256/empty", "deep/er/file", "link", "hard", "deep/rel"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"link": big, "deep/rel": []byte(`{}`), "hard": []byte("x"), "blobs/sha256/empty": {}} {
		got, err := fs.ReadFile(tfs, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	// Members are random-access section readers.
	f, _ := tfs.Open("blobs/sha256/abc")
	ra := f.(io.ReaderAt)
	b := make([]byte, 4)
	if _, err := ra.ReadAt(b, 16*100+3); err != nil || string(b) != "3456" {
		t.Fatalf("ReadAt: %q %v", b, err)
	}
	f.Close()
}

func TestTarFSRejectsTraversal(t *testing.T) {
	p := writeTar(t, []fixture.File{
		{Path: "../evil", Body: []byte("x")},
		{Path: "a/../../evil2", Body: []byte("x")},
		{Path: "/abs", Body: []byte("x")},
		{Path: "ok", Body: []byte("ok")},
		{Path: "esc", Type: tar.TypeSymlink, Linkname: "../../etc/passwd"},
		{Path: "abslink", Type: tar.TypeSymlink, Linkname: "/ok"},
		{Path: "loop", Type: tar.TypeSymlink, Linkname: "loop"},
	})
	tfs := openTar(t, p)
	if got := tfs.Rejected(); len(got) != 3 {
		t.Fatalf("rejected %v, want 3 names", got)
	}
	if got := tfs.Members(); len(got) != 4 {
		t.Fatalf("members %v", got)
	}
	for _, name := range []string{"../evil", "/abs", "a/../ok", "esc", "loop"} {
		if _, err := tfs.Open(name); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		} else if name == "../evil" && !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q): %v, want fs.ErrInvalid", name, err)
		}
	}
	// An absolute symlink target resolves against the archive root.
	if b, err := tfs.ReadFile("abslink"); err != nil || string(b) != "ok" {
		t.Fatalf("abslink: %q %v", b, err)
	}
}

func TestTarFSBadInput(t *testing.T) {
	ctx := context.Background()
	good := fixture.Tar(t, []fixture.File{{Path: "a", Body: big}, {Path: "b", Body: big}})
	dir := t.TempDir()
	cases := map[string]struct {
		data []byte
		want error
	}{
		"truncated in data":   {good[:600], archive.ErrCorrupt},
		"truncated in header": {good[:len(big)+512+100], archive.ErrCorrupt},
		"gzip":                {fixture.Compress(t, good, "gzip"), archive.ErrCompressed},
		"zstd":                {fixture.Compress(t, good, "zstd"), archive.ErrCompressed},
		"not a tar":           {bytes.Repeat([]byte("garbage!"), 200), archive.ErrCorrupt},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			os.WriteFile(p, c.data, 0o644)
			_, err := archive.OpenTar(ctx, p)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
	if _, err := archive.OpenTar(ctx, dir); err == nil {
		t.Fatal("a directory opened as a tarball")
	}
	// An empty file is an empty archive.
	p := filepath.Join(dir, "empty")
	os.WriteFile(p, nil, 0o644)
	if tfs, err := archive.OpenTar(ctx, p); err != nil || len(tfs.Members()) != 0 {
		t.Fatalf("empty file: %v", err)
	}
}

func FuzzTarIndex(f *testing.F) {
	f.Add(fixture.Tar(f, []fixture.File{{Path: "a", Body: []byte("x")}, {Path: "l", Type: tar.TypeSymlink, Linkname: "a"}}))
	f.Add(fixture.Tar(f, []fixture.File{{Path: "../x"}, {Path: "d", Type: tar.TypeDir}, {Path: "d/h", Type: tar.TypeLink, Linkname: "d"}}))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tfs, err := archive.NewTarFS(context.Background(), bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		for _, m := range tfs.Members() {
			if !fs.ValidPath(m) {
				t.Fatalf("indexed invalid path %q", m)
			}
			// Bounded: a member (a sparse one above all) can declare far
			// more bytes than the input holds; only small ones are read.
			if st, err := tfs.Stat(m); err != nil || st.Size() > 1<<20 {
				continue
			}
			if b, err := tfs.ReadFile(m); err == nil {
				st, _ := tfs.Stat(m)
				if int64(len(b)) != st.Size() {
					t.Fatalf("%s: read %d, stat %d", m, len(b), st.Size())
				}
			}
		}
		fs.WalkDir(tfs, ".", func(string, fs.DirEntry, error) error { return nil })
	})
}

// TestTarFSLinkBombs: chains of symlinked directories resolve (or fail)
// and Lstat does not follow the final symlink. What a lookup costs is
// measured by BenchmarkTarFSLinkBombs, not bounded here by the clock.
func TestTarFSLinkBombs(t *testing.T) {
	tfs := openTar(t, writeTar(t, linkBombFiles()))
	for _, name := range linkBombLookups {
		tfs.Open(name)
	}
	if b, err := tfs.ReadFile("d3/f"); err != nil || string(b) != "x" {
		t.Fatalf("d3/f: %q %v", b, err)
	}
	st, err := tfs.Lstat("d3")
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("Lstat followed the link: %v %v", st, err)
	}
}
