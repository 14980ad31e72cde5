package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/fixture"
)

// TestScanForgedDiffIDExitsOne: after a clean image fills the cache, an
// image whose config claims that clean layer's diff_id while its blob holds
// a token reports the token and exits 1 (it used to exit 0, answered from
// the cache without reading the blob).
func TestScanForgedDiffIDExitsOne(t *testing.T) {
	dir := t.TempDir()
	cleanImg := fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "app/readme", Body: []byte("nothing to see\n")}}}}}
	clean := fixture.Build(t, cleanImg)
	fixture.WriteLayout(t, dir, "clean", cleanImg)
	fixture.WriteLayout(t, dir, "leak", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{
		{Path: "app/readme", Body: []byte("token: ghp_Zq3kT9vB2mXw7LpR4sYc8NdF1hJ6gA0eU5oI\n")}}}}})
	fixture.ForgeDiffIDs(t, dir, "leak", "forged", clean.DiffIDs[0])
	cacheDir := t.TempDir()
	if out, errs, code := run(t, "", "scan", "--cache-dir", cacheDir, "oci:"+dir+":clean"); code != ExitOK {
		t.Fatalf("clean image: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code := run(t, "", "scan", "--cache-dir", cacheDir, "oci:"+dir+":forged")
	if code != ExitFindings || !strings.Contains(out, "github-pat") || !strings.Contains(out, "Mismatched:") {
		t.Fatalf("forged image: exit %d, want %d with the token and the mismatch\n%s\n%s", code, ExitFindings, out, errs)
	}
}

// TestCatMaxBytes: cat refuses a file past --max-bytes (a sparse file at
// its logical size) before writing any of it; extract does the same.
func TestCatMaxBytes(t *testing.T) {
	dir := t.TempDir()
	fixture.WriteLayout(t, dir, "v", fixture.Image{Layers: []fixture.Layer{{Raw: fixture.SparseTar(t, "big", 1<<40,
		[]fixture.Fragment{{Offset: 0, Data: []byte("head")}}, fixture.File{Path: "small", Body: []byte("ok")})}}})
	ref := "oci:" + dir + ":v"
	out, errs, code := run(t, "", "cat", ref, "big")
	if code != ExitError || out != "" || !strings.Contains(errs, "--max-bytes") {
		t.Fatalf("cat of a 1 TiB sparse file: exit %d, %d bytes out, %s", code, len(out), errs)
	}
	if out, _, code := run(t, "", "cat", "--max-bytes", "2", ref, "small"); code != ExitOK || out != "ok" {
		t.Fatalf("cat small: %d %q", code, out)
	}
	if out, _, code := run(t, "", "cat", "--max-bytes", "1", ref, "small"); code != ExitError || out != "" {
		t.Fatalf("cat small over the cap: %d %q", code, out)
	}
	_, errs, code = run(t, "", "extract", "-q", ref, filepath.Join(t.TempDir(), "x"))
	if code != ExitError || !strings.Contains(errs, "--max-bytes") {
		t.Fatalf("extract of a 1 TiB sparse file: exit %d, %s", code, errs)
	}
}
