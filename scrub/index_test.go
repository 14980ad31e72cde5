package scrub_test

import (
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/scrub"
	"github.com/stratascan/strata/source"
)

// TestIndex: a multi-platform index with BuildKit attestations is scrubbed
// per platform, the shared leaked layer rewritten once, the attestations
// of the old digests dropped, the index rebuilt with platforms kept.
func TestIndex(t *testing.T) {
	ctx := testCtx(t)
	amd := leakyImage(t)
	arm := leakyImage(t)
	arm.Arch, arm.Variant = "arm64", "v8"
	arm.Layers = append(arm.Layers[:0:0], arm.Layers...)
	arm.Layers[0] = fixture.Layer{CreatedBy: "ADD arm.tar /", Files: []fixture.File{{Path: "etc/os-release", Body: []byte("ID=arm\n")}}}
	dir := filepath.Join(t.TempDir(), "src")
	fixture.WriteIndexAttested(t, dir, "latest", nil, amd, arm)
	src := open(t, ctx, "oci:"+dir+":latest")
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: []string{"/app/.env"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(p.Images) != 2 || len(p.Dropped) != 2 {
		t.Fatalf("images %d dropped %d, want 2 and 2", len(p.Images), len(p.Dropped))
	}
	if p.Images[0].Layers[1].New.Digest != p.Images[1].Layers[1].New.Digest {
		t.Fatal("the shared layer was rewritten differently per platform")
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := p.Apply(ctx, scrub.Destination{Ref: "oci-archive:" + out + ".tar:clean"}); err != nil {
		t.Fatal(err)
	}
	dst := open(t, ctx, "oci-archive:"+out+".tar:clean")
	if dst.root.Kind != image.KindIndex || len(dst.root.Children) != 2 {
		t.Fatalf("result root %s with %d children", dst.root.Kind, len(dst.root.Children))
	}
	if dst.root.Parsed.Index.Annotations[scrub.AnnotationRemovedPaths] != "1" {
		t.Fatalf("index annotations %v", dst.root.Parsed.Index.Annotations)
	}
	for i, want := range []string{"linux/amd64", "linux/arm64/v8"} {
		c := dst.root.Children[i]
		if c.Descriptor.Platform.String() != want || c.Descriptor.Digest != p.Images[i].NewManifest.Digest {
			t.Fatalf("child %d: %s %s", i, c.Descriptor.Platform, c.Descriptor.Digest)
		}
		plat, _ := image.ParsePlatform(want)
		ims, err := source.Select(dst.root, plat, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := finalFS(t, ctx, dst.store, ims[0])["app/main.py"]; !ok {
			t.Fatalf("%s lost /app/main.py", want)
		}
	}
}
