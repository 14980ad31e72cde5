package scrub_test

import (
	"archive/tar"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/scrub"
)

// randomImage builds layers of adds, overwrites, deletes (whiteouts),
// opaque directories, hard links (to files of the same layer) and symlinks
// over a small namespace, so that operations collide often.
func randomImage(r *rand.Rand) fixture.Image {
	dirs := []string{"a", "a/b", "c"}
	names := []string{"x", "y", ".env", "key"}
	var img fixture.Image
	nl := 2 + r.IntN(4)
	for li := 0; li < nl; li++ {
		used := map[string]bool{}
		var files []fixture.File
		var added []string
		add := func(f fixture.File) bool {
			if used[f.Path] {
				return false
			}
			used[f.Path] = true
			files = append(files, f)
			return true
		}
		if li == 0 {
			for _, d := range dirs {
				add(fixture.File{Path: d, Type: tar.TypeDir})
			}
		}
		for n := 1 + r.IntN(6); n > 0; n-- {
			d := dirs[r.IntN(len(dirs))]
			p := path.Join(d, names[r.IntN(len(names))])
			switch op := r.IntN(10); {
			case op < 4: // add or overwrite
				if add(fixture.File{Path: p, Body: []byte(fmt.Sprintf("layer %d %s %d\n", li, p, r.IntN(3))), Mode: int64(0o600 + r.IntN(2)*0o44), Uid: r.IntN(2)}) {
					added = append(added, p)
				}
			case op < 6 && li > 0: // delete something that may exist below
				add(fixture.File{Path: path.Join(path.Dir(p), ".wh."+path.Base(p))})
			case op < 7 && li > 0: // opaque directory
				add(fixture.File{Path: d, Type: tar.TypeDir})
				add(fixture.File{Path: d + "/.wh..wh..opq"})
			case op < 9 && len(added) > 0: // hard link to a file of this layer
				add(fixture.File{Path: p, Type: tar.TypeLink, Linkname: added[r.IntN(len(added))]})
			default:
				add(fixture.File{Path: p, Type: tar.TypeSymlink, Linkname: "../" + names[r.IntN(len(names))]})
			}
		}
		comp := []string{"gzip", "zstd", "none"}[r.IntN(3)]
		img.Layers = append(img.Layers, fixture.Layer{Files: files, Compression: comp, CreatedBy: fmt.Sprintf("step %d", li)})
	}
	return img
}

func randomGlobs(r *rand.Rand) []string {
	pool := []string{"/a/x", "/a/b", "/c/.env", "**/.env", "/a/b/key", "/c", "**/y", "/a/*/x", "/c/key"}
	var out []string
	for n := 1 + r.IntN(3); n > 0; n-- {
		out = append(out, pool[r.IntN(len(pool))])
	}
	return out
}

func matchesAny(globs []string, p string) bool {
	els := strings.Split(p, "/")
	for _, g := range globs {
		pat := strings.Split(strings.TrimPrefix(g, "/"), "/")
		for n := 1; n <= len(els); n++ {
			if globMatch(pat, els[:n]) {
				return true
			}
		}
	}
	return false
}

func globMatch(pat, els []string) bool {
	if len(pat) == 0 {
		return len(els) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(els); i++ {
			if globMatch(pat[1:], els[i:]) {
				return true
			}
		}
		return false
	}
	if len(els) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], els[0])
	return ok && globMatch(pat[1:], els[1:])
}

// TestProperty: over random images and random paths to remove, the result
// written and read back shows the original's final filesystem minus the
// removed paths exactly, deleted paths stay deleted, no removed path is
// left in any layer, and untouched layers keep their digests.
func TestProperty(t *testing.T) {
	ctx := testCtx(t)
	n := 80
	if testing.Short() {
		n = 20
	}
	plans, nothing := 0, 0
	eng := engine(t)
	cache, err := scan.OpenCache(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewPCG(uint64(i), 11))
		img := randomImage(r)
		globs := randomGlobs(r)
		dir := t.TempDir()
		fixture.WriteLayout(t, filepath.Join(dir, "src"), "t", img)
		src := open(t, ctx, "oci:"+filepath.Join(dir, "src")+":t")
		p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: globs}, WorkDir: dir})
		if errors.Is(err, scrub.ErrNothingToRemove) {
			nothing++
			continue
		}
		if err != nil {
			t.Fatalf("case %d (globs %v): %v", i, globs, err)
		}
		plans++
		// The same plan from the scan cache's listings, which reads only
		// the layers it rewrites, gives the same image.
		scanInto(t, ctx, src, cache, eng)
		wp, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: globs}, WorkDir: dir, Cache: cache})
		if err != nil {
			t.Fatalf("case %d (globs %v): with cached listings: %v", i, globs, err)
		}
		if wp.NewRoot.Digest != p.NewRoot.Digest {
			t.Fatalf("case %d (globs %v): with cached listings the result is %s, without %s", i, globs, wp.NewRoot.Digest, p.NewRoot.Digest)
		}
		wp.Close()
		out := filepath.Join(dir, "out")
		if _, err := p.Apply(ctx, scrub.Destination{Ref: "oci:" + out + ":t"}); err != nil {
			t.Fatalf("case %d: apply: %v", i, err)
		}
		p.Close()
		dst := open(t, ctx, "oci:"+out+":t")
		oldIm, newIm := single(t, src.root), single(t, dst.root)
		before, after := finalFS(t, ctx, src.store, oldIm), finalFS(t, ctx, dst.store, newIm)
		if d := diffFS(before, after, func(p string) bool { return matchesAny(globs, p) }); len(d) > 0 {
			t.Fatalf("case %d (globs %v): final filesystem differs:\n%s", i, globs, strings.Join(d, "\n"))
		}
		for p := range after {
			if matchesAny(globs, p) {
				t.Fatalf("case %d: removed /%s still shows", i, p)
			}
		}
		for li, lp := range p.Images[0].Layers {
			if lp.Action == scrub.ActionReused && newIm.Layers[li].Descriptor.Digest != oldIm.Layers[li].Descriptor.Digest {
				t.Fatalf("case %d: reused layer %d changed digest", i, li)
			}
		}
	}
	t.Logf("%d scrubs checked, %d cases with nothing to remove", plans, nothing)
	if plans < n/2 {
		t.Fatalf("only %d of %d cases removed something: the generator is too weak", plans, n)
	}
}
