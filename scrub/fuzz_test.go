package scrub

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadFindings: any bytes give findings or an ErrBadSelector-style
// error, never a panic.
func FuzzReadFindings(f *testing.F) {
	f.Add([]byte(`{"findings":[{"rule":"r","path":"a/b","layer":1,"layerDigest":"sha256:00","fingerprint":"sha256:11"}]}`))
	f.Add([]byte(`{"findings":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ReadFindings(bytes.NewReader(b), 1<<20)
		if err == nil {
			sortFindings(fs)
		}
	})
}

// FuzzDropMembers: archives from a layer are untrusted; rewriting one
// without a member never panics, and when it succeeds the result no
// longer lists the member.
func FuzzDropMembers(f *testing.F) {
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("a/secret.txt")
	w.Write([]byte("token"))
	w, _ = zw.Create("b.txt")
	w.Write([]byte("keep"))
	zw.Close()
	f.Add(zb.Bytes(), "a/secret.txt")
	f.Add([]byte("not an archive"), "x")
	f.Fuzz(func(t *testing.T, b []byte, member string) {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
		if err := os.WriteFile(in, b, 0o600); err != nil {
			t.Fatal(err)
		}
		removed, err := dropMembers(in, out, []string{member}, 1<<20)
		if err != nil || len(removed) == 0 || strings.Contains(member, "!") {
			return
		}
		again, err := dropMembers(out, filepath.Join(dir, "out2"), []string{member}, 1<<20)
		if err == nil && len(again) > 0 {
			t.Fatalf("member %q still in the rewritten archive", member)
		}
	})
}
