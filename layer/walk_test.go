package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	stdgzip "compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

type tfile struct {
	name, body, link string
	typ              byte
}

func mkTar(t testing.TB, files ...tfile) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: f.name, Typeflag: typ, Mode: 0o644, Linkname: f.link}
		if typ == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(f.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func compress(t testing.TB, c image.Compression, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	switch c {
	case image.Gzip:
		zw := stdgzip.NewWriter(&out)
		zw.Write(b)
		zw.Close()
	case image.Zstd:
		zw, _ := zstd.NewWriter(&out)
		zw.Write(b)
		zw.Close()
	default:
		out.Write(b)
	}
	return out.Bytes()
}

func desc(blob []byte) image.Descriptor {
	return image.Descriptor{MediaType: image.MediaTypeOCILayerGzip, Digest: image.FromBytes(blob), Size: int64(len(blob))}
}

func collect(t testing.TB, blob []byte, d image.Descriptor, diffID image.Digest, opts Options) ([]Entry, map[string]string, Result, error) {
	var es []Entry
	bodies := map[string]string{}
	res, err := Walk(context.Background(), bytes.NewReader(blob), d, diffID, opts, func(e *Entry, r io.Reader) error {
		es = append(es, *e)
		if r != nil {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			bodies[e.Path] = string(b)
		}
		return nil
	})
	return es, bodies, res, err
}

func TestWalkCompressions(t *testing.T) {
	tarb := mkTar(t,
		tfile{name: "./etc/", typ: tar.TypeDir},
		tfile{name: "./etc/app.env", body: "TOKEN=abc\n"},
		tfile{name: "etc/.wh.old", body: ""},
		tfile{name: "var/cache/.wh..wh..opq"},
		tfile{name: "/abs/link", typ: tar.TypeSymlink, link: "/etc/app.env"},
		tfile{name: "hard", typ: tar.TypeLink, link: "./etc/app.env"},
	)
	diffID := image.FromBytes(tarb)
	for _, c := range []image.Compression{image.Gzip, image.Zstd, image.Uncompressed} {
		t.Run(string(c), func(t *testing.T) {
			blob := compress(t, c, tarb)
			es, bodies, res, err := collect(t, blob, desc(blob), diffID, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Compression != c || res.DiffID != diffID || res.Digest != image.FromBytes(blob) || res.Uncompressed != int64(len(tarb)) {
				t.Fatalf("result %+v", res)
			}
			want := []struct {
				path string
				typ  Type
			}{{"etc", TypeDir}, {"etc/app.env", TypeFile}, {"etc/old", TypeWhiteout}, {"var/cache", TypeOpaque}, {"abs/link", TypeSymlink}, {"hard", TypeHardlink}}
			if len(es) != len(want) {
				t.Fatalf("got %d entries, want %d", len(es), len(want))
			}
			for i, w := range want {
				if es[i].Path != w.path || es[i].Type != w.typ {
					t.Errorf("entry %d = %s %s, want %s %s", i, es[i].Path, es[i].Type, w.path, w.typ)
				}
			}
			if es[5].Linkname != "etc/app.env" {
				t.Errorf("hardlink target %q not cleaned", es[5].Linkname)
			}
			if bodies["etc/app.env"] != "TOKEN=abc\n" {
				t.Errorf("body = %q", bodies["etc/app.env"])
			}
		})
	}
}

func TestWalkVerification(t *testing.T) {
	tarb := mkTar(t, tfile{name: "a", body: strings.Repeat("x", 5000)}, tfile{name: "b", body: "y"})
	blob := compress(t, image.Gzip, tarb)
	good := desc(blob)
	tampered := append([]byte(nil), blob...)
	tampered[len(tampered)/2] ^= 0xff
	zeros := compress(t, image.Gzip, append(mkTar(t, tfile{name: "big", body: strings.Repeat("\x00", 4<<20)}), make([]byte, 0)...))
	notTar := compress(t, image.Gzip, []byte(strings.Repeat("hello world ", 100)))
	cases := []struct {
		name   string
		blob   []byte
		d      image.Descriptor
		diffID image.Digest
		opts   Options
		is     error
	}{
		{"ok", blob, good, image.FromBytes(tarb), Options{}, nil},
		{"wrong digest", blob, image.Descriptor{Digest: image.FromBytes([]byte("other")), Size: good.Size}, "", Options{}, content.ErrDigestMismatch},
		{"wrong diff_id", blob, good, image.FromBytes([]byte("nope")), Options{}, content.ErrDigestMismatch},
		{"truncated", blob[:len(blob)-40], good, "", Options{}, content.ErrSizeMismatch},
		{"tampered", tampered, good, "", Options{}, nil},
		{"size lies", blob, image.Descriptor{Digest: good.Digest, Size: good.Size + 1}, "", Options{}, content.ErrSizeMismatch},
		{"bomb", zeros, desc(zeros), "", Options{MaxBytes: 1 << 20}, ErrTooLarge},
		{"not tar", notTar, desc(notTar), "", Options{}, ErrNotTar},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := collect(t, c.blob, c.d, c.diffID, c.opts)
			switch {
			case c.name == "ok" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.name == "tampered":
				if err == nil {
					t.Fatal("tampered blob passed verification")
				}
			case c.is != nil && !errors.Is(err, c.is):
				t.Fatalf("err = %v, want %v", err, c.is)
			}
			if err != nil && !strings.Contains(err.Error(), "sha256:") {
				t.Errorf("error does not name the blob: %v", err)
			}
		})
	}
}

func TestWalkDrainsWhenCallbackReadsNothing(t *testing.T) {
	tarb := mkTar(t, tfile{name: "a", body: strings.Repeat("z", 100000)})
	blob := compress(t, image.Gzip, tarb)
	d := desc(blob)
	d.Digest = image.FromBytes([]byte("x"))
	_, err := Walk(context.Background(), bytes.NewReader(blob), d, "", Options{}, func(*Entry, io.Reader) error { return nil })
	if !errors.Is(err, content.ErrDigestMismatch) {
		t.Fatalf("digest not checked when nothing was read: %v", err)
	}
}

func TestCleanPath(t *testing.T) {
	cases := []struct {
		in, want string
		esc      bool
	}{
		{"./etc/passwd", "etc/passwd", false},
		{"/etc//passwd", "etc/passwd", false},
		{"a/../b", "b", false},
		{"../../etc/shadow", "etc/shadow", true},
		{"a/../../x", "x", true},
		{"./", "", false},
		{"..", "", true},
	}
	for _, c := range cases {
		got, esc := CleanPath(c.in)
		if got != c.want || esc != c.esc {
			t.Errorf("CleanPath(%q) = %q,%v want %q,%v", c.in, got, esc, c.want, c.esc)
		}
	}
}

func TestUnsafeEntriesFlagged(t *testing.T) {
	tarb := mkTar(t, tfile{name: "../../evil", body: "x"}, tfile{name: "ok", typ: tar.TypeLink, link: "../../etc/shadow"})
	es, _, _, err := collect(t, tarb, image.Descriptor{Digest: image.FromBytes(tarb), Size: int64(len(tarb))}, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if es[0].Unsafe == "" || es[1].Unsafe == "" {
		t.Fatalf("escaping entries not flagged: %+v", es)
	}
}

func FuzzWalk(f *testing.F) {
	f.Add(mkTar(f, tfile{name: "a", body: "b"}, tfile{name: "d/.wh.x"}))
	f.Add(compress(f, image.Gzip, mkTar(f, tfile{name: "a", body: "b"})))
	f.Add(compress(f, image.Zstd, mkTar(f, tfile{name: "../a", typ: tar.TypeSymlink, link: "/x"})))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		// Bounded: at most 8 MiB per input (sparse files' holes included) and
		// 1 MiB read per entry, so every execution is quick.
		res, err := Walk(context.Background(), bytes.NewReader(b), image.Descriptor{Digest: image.FromBytes(b), Size: int64(len(b))}, "", Options{MaxBytes: 8 << 20},
			func(e *Entry, r io.Reader) error {
				n++
				if strings.HasPrefix(e.Path, "/") || strings.HasPrefix(e.Path, "../") || e.Path == ".." {
					t.Fatalf("uncleaned path %q", e.Path)
				}
				if r != nil {
					io.CopyN(io.Discard, r, 1<<20)
				}
				return nil
			})
		if err == nil && res.Digest != image.FromBytes(b) {
			t.Fatalf("digest %s accepted for other bytes", res.Digest)
		}
	})
}
