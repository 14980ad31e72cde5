package inspect

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/overlay"
)

// disk lists what extraction wrote under dir: "path:kind[:content]".
func disk(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	// WalkDir visits in lexical order, parents first.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			out = append(out, rel+":symlink")
		case d.IsDir():
			out = append(out, rel+":dir")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+":file:"+string(b))
		}
		return nil
	})
	return out
}

// TestDuplicateEntriesOneRule: for each pair of entries at one path in one
// layer, ls (final and per layer), cat and extract agree that the last
// entry wins, as tar extraction does.
func TestDuplicateEntriesOneRule(t *testing.T) {
	cases := []struct {
		name  string
		files []fixture.File
		final string // ls: path:type of the final filesystem
		cat   string // cat x: content, or "error" when x is not a regular file
		disk  string // extract
		catY  string // cat x/y when the pair puts something below x: content and state
	}{
		{"file then file",
			[]fixture.File{{Path: "x", Body: []byte("one")}, {Path: "x", Body: []byte("two")}},
			"x:file", "two", "x:file:two", ""},
		{"file then dir",
			[]fixture.File{{Path: "x", Body: []byte("one")}, {Path: "x", Type: tar.TypeDir}, {Path: "x/y", Body: []byte("y")}},
			"x:dir x/y:file", "error", "x:dir x/y:file:y", "y present"},
		{"dir then file",
			[]fixture.File{{Path: "x", Type: tar.TypeDir}, {Path: "x/y", Body: []byte("y")}, {Path: "x", Body: []byte("two")}},
			"x:file", "two", "x:file:two", "y deleted"},
		{"symlink then file",
			[]fixture.File{{Path: "t", Body: []byte("target")}, {Path: "x", Type: tar.TypeSymlink, Linkname: "t"}, {Path: "x", Body: []byte("two")}},
			"t:file x:file", "two", "t:file:target x:file:two", ""},
		{"file then symlink",
			[]fixture.File{{Path: "t", Body: []byte("target")}, {Path: "x", Body: []byte("one")}, {Path: "x", Type: tar.TypeSymlink, Linkname: "t"}},
			"t:file x:symlink", "error", "t:file:target x:symlink", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, im := load(t, fixture.Image{Layers: []fixture.Layer{{Files: c.files}}})
			ctx := context.Background()
			a, err := Analyze(ctx, s, im, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var final []string
			for _, r := range a.FinalRows("") {
				final = append(final, r.Path+":"+r.Type.String())
			}
			if got := strings.Join(final, " "); got != c.final {
				t.Errorf("ls = %q, want %q", got, c.final)
			}
			// ls --layer 0 shows every entry; exactly one per path is present.
			present := map[string]int{}
			for _, r := range a.LayerRows(0, "") {
				if r.State == overlay.Present {
					present[r.Path]++
				} else if r.HiddenBy == nil || *r.HiddenBy != 0 {
					t.Errorf("ls --layer 0: %s %s hidden by %v, want by its own layer", r.Path, r.Type, r.HiddenBy)
				}
			}
			for p, n := range present {
				if n != 1 {
					t.Errorf("ls --layer 0: %d present entries at %s", n, p)
				}
			}
			var buf bytes.Buffer
			_, err = ReadFile(ctx, s, im, "x", -1, &buf, Options{})
			got := buf.String()
			if err != nil {
				got = "error"
				if !errors.Is(err, ErrNotRegular) {
					t.Errorf("cat x: %v", err)
				}
			}
			if got != c.cat {
				t.Errorf("cat x = %q, want %q", got, c.cat)
			}
			if c.catY != "" {
				buf.Reset()
				info, err := ReadFile(ctx, s, im, "x/y", -1, &buf, Options{})
				if got := buf.String() + " " + string(info.State); err != nil || got != c.catY {
					t.Errorf("cat x/y = %q %v, want %q", got, err, c.catY)
				}
			}
			for _, layerSel := range []int{-1, 0} {
				out := t.TempDir()
				st, err := Extract(ctx, s, im, out, ExtractOptions{Layer: layerSel}, Options{})
				if err != nil || len(st.Refused) != 0 {
					t.Fatalf("extract --layer %d: %v, refused %+v", layerSel, err, st.Refused)
				}
				if got := strings.Join(disk(t, out), " "); got != c.disk {
					t.Errorf("extract --layer %d wrote %q, want %q", layerSel, got, c.disk)
				}
			}
		})
	}
}

// TestHardlinkToLaterDeletedFile: layer 0 holds a file and a hard link to
// it, layer 1 deletes the file. ls lists the link as present, cat returns
// its bytes, and extract writes it with those bytes (it used to refuse it),
// leaving nothing else behind.
func TestHardlinkToLaterDeletedFile(t *testing.T) {
	s, im := load(t, fixture.Image{Layers: []fixture.Layer{
		{Files: []fixture.File{
			{Path: "etc", Type: tar.TypeDir},
			{Path: "etc/secret", Body: []byte("s3cr3t")},
			{Path: "etc/link", Type: tar.TypeLink, Linkname: "etc/secret"},
			{Path: "etc/chain", Type: tar.TypeLink, Linkname: "etc/link"},
		}},
		{Files: []fixture.File{{Path: "etc/.wh.secret"}}},
	}})
	ctx := context.Background()
	a, err := Analyze(ctx, s, im, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var final []string
	for _, r := range a.FinalRows("") {
		final = append(final, r.Path)
	}
	if got := strings.Join(final, " "); got != "etc etc/chain etc/link" {
		t.Fatalf("ls = %q", got)
	}
	for _, p := range []string{"etc/link", "etc/chain"} {
		var buf bytes.Buffer
		info, err := ReadFile(ctx, s, im, p, -1, &buf, Options{})
		if err != nil || buf.String() != "s3cr3t" || info.State != overlay.Present {
			t.Fatalf("cat %s = %q %+v %v", p, buf.String(), info, err)
		}
	}
	for _, xo := range []ExtractOptions{{Layer: -1}, {Layer: 0, Prefix: "etc/link"}} {
		out := t.TempDir()
		st, err := Extract(ctx, s, im, out, xo, Options{})
		if err != nil || len(st.Refused) != 0 {
			t.Fatalf("extract %+v: %v, refused %+v", xo, err, st.Refused)
		}
		want := "etc:dir etc/chain:file:s3cr3t etc/link:file:s3cr3t"
		if xo.Prefix != "" {
			want = "etc:dir etc/link:file:s3cr3t"
		}
		if got := strings.Join(disk(t, out), " "); got != want {
			t.Errorf("extract %+v wrote %q, want %q", xo, got, want)
		}
	}
}

// TestClimbingWhiteoutsNotApplied: "../.wh.top" and "../.wh..wh..opq" in
// an upper layer delete nothing: ls shows the lower files present, cat
// calls them present, extract writes them and reports the markers.
func TestClimbingWhiteoutsNotApplied(t *testing.T) {
	s, im := load(t, fixture.Image{Layers: []fixture.Layer{
		{Files: []fixture.File{{Path: "top", Body: []byte("kept")}, {Path: "d", Type: tar.TypeDir}, {Path: "d/keep", Body: []byte("k")}}},
		{Files: []fixture.File{{Path: "../.wh.top"}, {Path: "../.wh..wh..opq"}, {Path: "d/../../d/.wh.keep"}}},
	}})
	ctx := context.Background()
	a, err := Analyze(ctx, s, im, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var final []string
	for _, r := range a.FinalRows("") {
		final = append(final, r.Path)
	}
	if got := strings.Join(final, " "); got != "d d/keep top" {
		t.Fatalf("ls = %q: a climbing whiteout was applied", got)
	}
	unsafe := 0
	for _, r := range a.LayerRows(1, "") {
		if r.Unsafe != "" {
			unsafe++
		}
	}
	if unsafe != 3 || a.Layers[1].Stats.Deleted != 0 {
		t.Errorf("layer 1: %d unsafe rows, %d deleted; want 3 and 0", unsafe, a.Layers[1].Stats.Deleted)
	}
	info, err := ReadFile(ctx, s, im, "top", -1, io.Discard, Options{})
	if err != nil || info.State != overlay.Present {
		t.Errorf("cat top: %+v %v", info, err)
	}
	out := t.TempDir()
	st, err := Extract(ctx, s, im, out, ExtractOptions{Layer: -1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(disk(t, out), " "); got != "d:dir d/keep:file:k top:file:kept" {
		t.Errorf("extract wrote %q", got)
	}
	if len(st.Refused) != 3 {
		t.Errorf("refused %+v, want the 3 markers reported", st.Refused)
	}
	for _, r := range st.Refused {
		if !strings.Contains(r.Reason, "not applied") {
			t.Errorf("refusal %+v does not say the marker was not applied", r)
		}
	}
}

// TestExtractDropsSetIDBits: setuid, setgid and sticky bits never reach the
// disk; the permission bits do.
func TestExtractDropsSetIDBits(t *testing.T) {
	s, im := load(t, fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{
		{Path: "bin", Type: tar.TypeDir},
		{Path: "bin/su", Body: []byte("#!/bin/sh\n"), Mode: 0o4755},
		{Path: "bin/wall", Body: []byte("#!/bin/sh\n"), Mode: 0o2755},
		{Path: "tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Path: "shared", Type: tar.TypeDir, Mode: 0o2775},
	}}}})
	a, err := Analyze(context.Background(), s, im, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range a.FinalRows("") {
		if r.Path == "bin/su" && r.Mode != "-rwsr-xr-x" {
			t.Fatalf("the fixture lost its setuid bit: %s", r.Mode)
		}
	}
	out := t.TempDir()
	if _, err := Extract(context.Background(), s, im, out, ExtractOptions{Layer: -1}, Options{}); err != nil {
		t.Fatal(err)
	}
	umask := fs.FileMode(syscall.Umask(0))
	syscall.Umask(int(umask))
	for p, perm := range map[string]fs.FileMode{"bin/su": 0o755, "bin/wall": 0o755, "tmp": 0o777, "shared": 0o775} {
		fi, err := os.Lstat(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode(); m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || m.Perm() != perm&^umask {
			t.Errorf("%s: mode %s, want %s (umask %s) without set-id or sticky bits", p, m, perm, umask)
		}
	}
}

// TestSparseFiles: a PAX sparse file is extracted with holes (disk use
// follows the data), counted at its logical size against --max-bytes
// before any byte is read, and cat refuses it past its own cap. A 1 PiB
// sparse file in a few hundred bytes of layer costs nothing.
func TestSparseFiles(t *testing.T) {
	const size = 64 << 20
	s, im := load(t, fixture.Image{Layers: []fixture.Layer{{Raw: fixture.SparseTar(t, "big", size,
		[]fixture.Fragment{{Offset: 0, Data: []byte("head")}, {Offset: size / 2, Data: []byte("middle")}, {Offset: size - 3, Data: []byte("end")}},
		fixture.File{Path: "small", Body: []byte("s")})}}})
	ctx := context.Background()
	out := t.TempDir()
	st, err := Extract(ctx, s, im, out, ExtractOptions{Layer: -1, MaxBytes: 1 << 30}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != size+1 {
		t.Errorf("bytes counted %d, want the logical %d", st.Bytes, size+1)
	}
	fi, err := os.Stat(filepath.Join(out, "big"))
	if err != nil {
		t.Fatal(err)
	}
	used := fi.Sys().(*syscall.Stat_t).Blocks * 512
	if fi.Size() != size || used > 1<<20 {
		t.Errorf("big: size %d, %d bytes on disk; want %d with holes (under 1 MiB used)", fi.Size(), used, size)
	}
	b, _ := os.ReadFile(filepath.Join(out, "big"))
	if string(b[:4]) != "head" || string(b[size/2:size/2+6]) != "middle" || string(b[size-3:]) != "end" || bytes.Count(b, []byte{0}) != size-13 {
		t.Errorf("big: content wrong")
	}

	// Under a cap below the logical size: refused before writing.
	_, err = Extract(ctx, s, im, t.TempDir(), ExtractOptions{Layer: -1, MaxBytes: 32 << 20}, Options{})
	if !errors.Is(err, ErrLimit) {
		t.Errorf("extract under a 32 MiB cap: %v", err)
	}
	var buf bytes.Buffer
	if _, err := ReadFile(ctx, s, im, "big", -1, &buf, Options{MaxFileBytes: 1 << 20}); !errors.Is(err, ErrLimit) || buf.Len() != 0 {
		t.Errorf("cat with a 1 MiB cap: %v after %d bytes", err, buf.Len())
	}

	s, im = load(t, fixture.Image{Layers: []fixture.Layer{{Raw: fixture.SparseTar(t, "pib", 1<<50, []fixture.Fragment{{Offset: 0, Data: []byte("x")}})}}})
	out = t.TempDir()
	if _, err := Extract(ctx, s, im, out, ExtractOptions{Layer: -1, MaxBytes: 8 << 30}, Options{}); !errors.Is(err, ErrLimit) {
		t.Fatalf("1 PiB sparse file: %v", err)
	}
	if _, err := ReadFile(ctx, s, im, "pib", -1, io.Discard, Options{MaxFileBytes: 8 << 30}); !errors.Is(err, ErrLimit) {
		t.Fatalf("cat 1 PiB sparse file: %v", err)
	}
}

// TestNestedDirsLinear: 5,000 nested directories (each entry one level
// below the previous) extract with a constant number of path lookups per
// entry, not one per level (which made this take minutes).
func TestNestedDirsLinear(t *testing.T) {
	const depth = 5000
	var files []fixture.File
	p := ""
	for i := 0; i < depth; i++ {
		p += "d/"
		files = append(files, fixture.File{Path: p, Type: tar.TypeDir})
	}
	files = append(files, fixture.File{Path: p + "leaf", Body: []byte("bottom")})
	// Uncompressed: the names alone are 25 MB, and compressing them is not
	// what this measures.
	s, im := load(t, fixture.Image{Layers: []fixture.Layer{{Files: files, Compression: "none"}}})
	for _, layerSel := range []int{-1} {
		out := t.TempDir()
		st, err := Extract(context.Background(), s, im, out, ExtractOptions{Layer: layerSel}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Dirs != depth || st.Files != 1 {
			t.Fatalf("wrote %d dirs, %d files", st.Dirs, st.Files)
		}
		if st.resolved > 2*(depth+1) {
			t.Errorf("--layer %d: %d path lookups for %d entries: not linear", layerSel, st.resolved, depth+1)
		}
		t.Logf("--layer %d: %d lookups for %d entries", layerSel, st.resolved, depth+1)
	}
}
