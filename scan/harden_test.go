package scan

import (
	"context"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/fixture"
)

// TestCacheKeysOnVerifiedContent: an image whose config claims the diff_id
// of a clean layer already in the cache, while its own layer blob holds a
// token, is walked and the token reported (with the inconsistency); the
// cache never answers for a blob by the config's claim. The same holds
// within one run: the clean image and the forged one scanned together.
func TestCacheKeysOnVerifiedContent(t *testing.T) {
	dir := t.TempDir()
	clean := fixture.Build(t, fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "app/readme", Body: []byte("nothing to see\n")}}}}})
	fixture.WriteLayout(t, dir, "clean", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "app/readme", Body: []byte("nothing to see\n")}}}}})
	tok := ghp(90)
	fixture.WriteLayout(t, dir, "leak", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "app/readme", Body: []byte("token: " + tok + "\n")}}}}})
	fixture.ForgeDiffIDs(t, dir, "leak", "forged", clean.DiffIDs[0])

	cache, err := OpenCache(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	opts := Options{Engine: engine(t), Results: cache}
	first, err := Run(context.Background(), []Target{open(t, dir, "clean", false)}, opts)
	if err != nil || len(first.Findings) != 0 {
		t.Fatalf("clean image: %v %+v", err, first.Findings)
	}
	check := func(name string, res *Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var found bool
		for _, f := range res.Findings {
			found = found || f.Fingerprint == fp(tok) && f.Image == "forged"
		}
		if !found {
			t.Errorf("%s: the token behind a forged diff_id was not reported: %+v", name, res.Findings)
		}
		if len(res.Coverage.Mismatched) != 1 || !strings.Contains(res.Coverage.Mismatched[0].Reason, string(clean.DiffIDs[0])) {
			t.Errorf("%s: mismatch not reported: %+v", name, res.Coverage.Mismatched)
		}
	}
	forged := open(t, dir, "forged", false)
	forged.Ref = "forged"
	res, err := Run(context.Background(), []Target{forged}, opts)
	check("cached clean layer", res, err)
	if res != nil && res.Coverage.LayersFromCache != 0 {
		t.Errorf("the forged layer was answered from the cache")
	}
	// Rescanning answers from the cache by the verified blob: same verdict.
	res, err = Run(context.Background(), []Target{forged}, opts)
	check("rescan", res, err)
	// One run, no cache: the clean image does not answer for the forged one.
	res, err = Run(context.Background(), []Target{open(t, dir, "clean", false), forged}, Options{Engine: engine(t)})
	check("same run", res, err)
	if res != nil && res.Coverage.Layers != 2 {
		t.Errorf("layers %d, want 2 distinct blobs", res.Coverage.Layers)
	}
}
