package provenance

import (
	"fmt"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
)

// The vectors of FIELD-NOTES 1.4 (image-spec config.md "Layer ChainID").
func TestChainIDVectors(t *testing.T) {
	const (
		e   = image.EmptyLayerDiffID
		ee  = image.Digest("sha256:170b376f64fb30995c140276be3d71dfb256b308d86183ca3b22aa93a79ad548")
		eee = image.Digest("sha256:7800f80a93336d416612f372faa5f69eb67b353ce6ae9535fa0848f8784c74b1")
	)
	tests := []struct {
		in   []image.Digest
		want []image.Digest
	}{
		{[]image.Digest{e}, []image.Digest{e}},
		{[]image.Digest{e, e}, []image.Digest{e, ee}},
		{[]image.Digest{e, e, e}, []image.Digest{e, ee, eee}},
	}
	for _, tt := range tests {
		got := image.ChainIDs(tt.in)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ChainIDs(%d x E) = %v, want %v", len(tt.in), got, tt.want)
		}
		b, err := NewBase("empty", Image{Digest: image.FromBytes([]byte(fmt.Sprint(len(tt.in)))), DiffIDs: tt.in}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if b.TopChainID() != tt.want[len(tt.want)-1] {
			t.Errorf("TopChainID = %s, want %s", b.TopChainID(), tt.want[len(tt.want)-1])
		}
	}
}

func d(s string) image.Digest { return image.FromBytes([]byte(s)) }

func mkBase(t *testing.T, name, platform string, created time.Time, layers ...string) Base {
	t.Helper()
	var ds []image.Digest
	for _, l := range layers {
		ds = append(ds, d(l))
	}
	c := created
	b, err := NewBase(name, Image{Reference: "reg/" + name, Digest: d(name + platform + created.String()), Platform: platform, DiffIDs: ds, Created: &c}, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIndexMatch(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(24 * time.Hour)
	debian1 := mkBase(t, "debian", "linux/amd64", t0, "deb-a")
	debian2 := mkBase(t, "debian", "linux/amd64", t1, "deb-b")
	debianArm := mkBase(t, "debian", "linux/arm64/v8", t0, "deb-arm")
	python := mkBase(t, "python", "linux/amd64", t1, "deb-b", "py")
	ix := NewIndex([]Base{debian1, debian2, debianArm, python})

	tests := []struct {
		name       string
		layers     []string
		platform   string
		wantBase   string // digest of the base, "" = none
		wantK      int
		wantStale  bool
		wantStatus Status
	}{
		{"on current debian", []string{"deb-b", "app"}, "linux/amd64", string(debian2.Digest), 1, false, StatusOK},
		{"longest wins: python over debian", []string{"deb-b", "py", "app", "app2"}, "linux/amd64", string(python.Digest), 2, false, StatusOK},
		{"old debian is stale", []string{"deb-a", "app"}, "linux/amd64", string(debian1.Digest), 1, true, StatusStale},
		{"base itself", []string{"deb-b"}, "linux/amd64", string(debian2.Digest), 1, false, StatusOK},
		{"unapproved", []string{"alpine", "app"}, "linux/amd64", "", 0, false, StatusNoBase},
		{"squashed", []string{"deb-b+app"}, "linux/amd64", "", 0, false, StatusNoBase},
		{"base layer not first", []string{"app", "deb-b"}, "linux/amd64", "", 0, false, StatusNoBase},
		{"platform mismatch", []string{"deb-arm", "app"}, "linux/amd64", "", 0, false, StatusNoBase},
		{"arm base, variant-less app", []string{"deb-arm", "app"}, "linux/arm64", string(debianArm.Digest), 1, false, StatusOK},
		{"arm debian not stale by newer amd64", []string{"deb-arm"}, "linux/arm64/v8", string(debianArm.Digest), 1, false, StatusOK},
		{"unknown platform matches", []string{"deb-b", "x"}, "", string(debian2.Digest), 1, false, StatusOK},
		{"no layers", nil, "linux/amd64", "", 0, false, StatusNoBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ds []image.Digest
			for _, l := range tt.layers {
				ds = append(ds, d(l))
			}
			r := CheckImage(ix, Image{Reference: "app", Digest: d("app"), Platform: tt.platform, DiffIDs: ds})
			got := ""
			if r.Base != nil {
				got = string(r.Base.Digest)
			}
			if got != tt.wantBase || r.BaseLayers != tt.wantK || r.AppLayers != len(ds)-tt.wantK || r.Stale != tt.wantStale || r.Status != tt.wantStatus {
				t.Errorf("got base=%s k=%d app=%d stale=%v status=%s, want base=%s k=%d stale=%v status=%s",
					got, r.BaseLayers, r.AppLayers, r.Stale, r.Status, tt.wantBase, tt.wantK, tt.wantStale, tt.wantStatus)
			}
			if tt.wantStale && (r.Newest == nil || r.Newest.Digest != debian2.Digest) {
				t.Errorf("stale result names newest %+v, want %s", r.Newest, debian2.Digest)
			}
		})
	}
}

func TestSameContentTwoDigestsNotStale(t *testing.T) {
	// The same base pushed twice (gzip, zstd): different manifest digests,
	// one chain; neither version makes the other stale.
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	a := mkBase(t, "debian", "linux/amd64", t0, "deb-a")
	b := a
	b.Digest = d("zstd push")
	b.Added = a.Added.Add(time.Hour)
	ix := NewIndex([]Base{a, b})
	r := CheckImage(ix, Image{DiffIDs: []image.Digest{d("deb-a"), d("x")}, Platform: "linux/amd64"})
	if r.Status != StatusOK || r.Base.Digest != b.Digest {
		t.Fatalf("got %+v, want ok on the newer record %s", r, b.Digest)
	}
}

func TestValidate(t *testing.T) {
	good := mkBase(t, "x", "", time.Now(), "a", "b")
	tests := []struct {
		name string
		mut  func(*Base)
	}{
		{"no name", func(b *Base) { b.Name = "" }},
		{"no digest", func(b *Base) { b.Digest = "" }},
		{"bad digest", func(b *Base) { b.Digest = "sha256:xyz" }},
		{"no layers", func(b *Base) { b.DiffIDs, b.ChainIDs = nil, nil }},
		{"chain mismatch", func(b *Base) { b.ChainIDs[1] = d("other") }},
		{"chain length", func(b *Base) { b.ChainIDs = b.ChainIDs[:1] }},
	}
	for _, tt := range tests {
		b := good
		b.ChainIDs = append([]image.Digest(nil), good.ChainIDs...)
		tt.mut(&b)
		if err := b.Validate(); err == nil {
			t.Errorf("%s: Validate passed", tt.name)
		}
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A check is O(layers): it must not grow with the number of bases.
func BenchmarkIndexMatch(b *testing.B) {
	var bases []Base
	for i := 0; i < 5000; i++ {
		bases = append(bases, Base{Name: fmt.Sprint("b", i), Image: Image{Digest: d(fmt.Sprint(i)), DiffIDs: []image.Digest{d(fmt.Sprint("l", i))}},
			ChainIDs: []image.Digest{d(fmt.Sprint("l", i))}})
	}
	ix := NewIndex(bases)
	app := []image.Digest{d("l4999"), d("x"), d("y"), d("z")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if m := ix.Match(app, ""); m.Base == nil {
			b.Fatal("no match")
		}
	}
}
