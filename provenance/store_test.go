package provenance

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testBases(t *testing.T) []Base {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return []Base{
		mkBase(t, "python", "linux/amd64", t0.Add(48*time.Hour), "deb-b", "py"),
		mkBase(t, "debian", "linux/amd64", t0.Add(24*time.Hour), "deb-b"),
		mkBase(t, "debian", "linux/amd64", t0, "deb-a"),
		mkBase(t, "debian", "linux/arm64/v8", t0, "deb-arm"),
	}
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "bases.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bs := testBases(t)
	n, err := s.Add(ctx, bs...)
	if err != nil || n != 4 {
		t.Fatalf("Add = %d, %v; want 4 new", n, err)
	}
	// Re-adding updates, keeps added time, adds nothing.
	again := bs[1]
	again.Reference = "reg/debian:12"
	again.Added = time.Now()
	if n, err := s.Add(ctx, again); err != nil || n != 0 {
		t.Fatalf("re-Add = %d, %v; want 0 new", n, err)
	}
	got, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("List: %d bases, want 4", len(got))
	}
	// sorted: debian amd64 old, debian amd64 new, debian arm, python
	if got[0].Digest != bs[2].Digest || got[1].Digest != bs[1].Digest || got[2].Digest != bs[3].Digest || got[3].Digest != bs[0].Digest {
		t.Errorf("List order wrong: %v", []string{got[0].Name + got[0].Platform, got[1].Name, got[2].Name, got[3].Name})
	}
	if got[1].Reference != "reg/debian:12" || !got[1].Added.Equal(bs[1].Added) {
		t.Errorf("re-Add: reference %q added %v; want updated reference, original added %v", got[1].Reference, got[1].Added, bs[1].Added)
	}
	if err := got[3].Validate(); err != nil {
		t.Errorf("listed base invalid: %v", err)
	}
	if !got[0].Created.Equal(*bs[2].Created) {
		t.Errorf("created %v, want %v", got[0].Created, bs[2].Created)
	}

	// Export is stable and sorted: golden file, identical across calls.
	var e1, e2 bytes.Buffer
	if err := s.Export(ctx, &e1); err != nil {
		t.Fatal(err)
	}
	if err := s.Export(ctx, &e2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e1.Bytes(), e2.Bytes()) {
		t.Fatal("two exports of one store differ")
	}
	golden := filepath.Join("testdata", "export.golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, e1.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(e1.Bytes(), want) {
		t.Errorf("export differs from %s (go test -update to accept):\n%s", golden, e1.String())
	}

	// Import into a fresh store reproduces the same export.
	s2, err := Open(ctx, filepath.Join(t.TempDir(), "b2.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, err := s2.Import(ctx, bytes.NewReader(e1.Bytes()), ImportOptions{}); err != nil || n != 4 {
		t.Fatalf("Import = %d, %v", n, err)
	}
	var e3 bytes.Buffer
	if err := s2.Export(ctx, &e3); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e1.Bytes(), e3.Bytes()) {
		t.Errorf("export → import → export changed the document:\n%s\n---\n%s", e1.String(), e3.String())
	}

	// Remove by name@digest, by digest prefix, by name; unknown fails and removes nothing.
	if _, err := s.Remove(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(nope) = %v, want ErrNotFound", err)
	}
	if rm, err := s.Remove(ctx, bs[0].Digest.Hex()[:12]); err != nil || len(rm) != 1 || rm[0].Name != "python" {
		t.Errorf("Remove(prefix) = %v, %v", rm, err)
	}
	if rm, err := s.Remove(ctx, "debian@"+string(bs[2].Digest)); err != nil || len(rm) != 1 {
		t.Errorf("Remove(name@digest) = %v, %v", rm, err)
	}
	if rm, err := s.Remove(ctx, "debian"); err != nil || len(rm) != 2 {
		t.Errorf("Remove(name) = %d, %v; want 2", len(rm), err)
	}
	if left, _ := s.List(ctx); len(left) != 0 {
		t.Errorf("%d bases left", len(left))
	}

	// Replace import makes the store equal to the document.
	s.Add(ctx, mkBase(t, "other", "", time.Now(), "o"))
	if _, err := s.Import(ctx, bytes.NewReader(e1.Bytes()), ImportOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	var e4 bytes.Buffer
	s.Export(ctx, &e4)
	if !bytes.Equal(e1.Bytes(), e4.Bytes()) {
		t.Error("replace import did not reproduce the document")
	}
}

func TestImportRejects(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := map[string]string{
		"not json":      `nope`,
		"wrong version": `{"version": 9, "bases": []}`,
		"unknown field": `{"version": 1, "bases": [], "x": 1}`,
		"bad chain": `{"version":1,"bases":[{"name":"a","reference":"r","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"],"layers":[],
			"chain_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],"added":"2024-01-01T00:00:00Z"}]}`,
	}
	for name, doc := range tests {
		if _, err := s.Import(ctx, bytes.NewReader([]byte(doc)), ImportOptions{}); !errors.Is(err, ErrInvalidBase) {
			t.Errorf("%s: Import = %v, want ErrInvalidBase", name, err)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("STRATA_BASES", "/x/y.db")
	if p, _ := DefaultPath(); p != "/x/y.db" {
		t.Errorf("STRATA_BASES ignored: %s", p)
	}
	t.Setenv("STRATA_BASES", "")
	t.Setenv("XDG_DATA_HOME", "/data")
	if p, _ := DefaultPath(); p != "/data/strata/bases.db" {
		t.Errorf("XDG_DATA_HOME: got %s", p)
	}
}

func FuzzReadDocument(f *testing.F) {
	f.Add([]byte(`{"version":1,"bases":[]}`))
	f.Add([]byte(`{"version":1,"bases":[{"name":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"],"chain_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := ReadDocument(bytes.NewReader(b))
		if err != nil {
			return
		}
		for i := range bs {
			if err := bs[i].Validate(); err != nil {
				t.Fatalf("ReadDocument accepted an invalid base: %v", err)
			}
		}
		ix := NewIndex(bs)
		for i := range bs {
			if m := ix.Match(bs[i].DiffIDs, bs[i].Platform); m.Base == nil || m.BaseLayers != len(bs[i].DiffIDs) {
				t.Fatalf("a base does not match its own chain: %+v", m)
			}
		}
	})
}
