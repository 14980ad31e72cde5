package scrub_test

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/scrub"
)

func jsonEncode(w io.Writer, v any) error { return report.JSON(w, v) }

// TestFindings scrubs everything a scan found in the scenario and
// checks the plan, the invariants and the written image.
func TestFindings(t *testing.T) {
	ctx := testCtx(t)
	ref, _ := writeLayout(t, leakyImage(t))
	src := open(t, ctx, ref)
	eng := engine(t)
	fs := findings(t, ctx, src, eng)
	rules := map[string]bool{}
	for _, f := range fs {
		rules[f.Rule+" "+f.Path] = true
	}
	for _, want := range []string{"private-key root/.ssh/id_ed25519", "github-pat app/lib.zip!conf/token.txt", "github-pat config:env"} {
		if !rules[want] {
			t.Fatalf("fixture: scan did not find %q: %v", want, rules)
		}
	}
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Engine: eng, Selectors: scrub.Selectors{Findings: fs}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ip := p.Images[0]
	actions := []string{}
	for _, lp := range ip.Layers {
		actions = append(actions, lp.Action)
	}
	if want := []string{"reused", "rewritten", "rewritten", "reused"}; !slices.Equal(actions, want) {
		t.Fatalf("layer actions %v, want %v (layer 3's opaque marker still hides known_hosts)", actions, want)
	}
	l1 := ip.Layers[1]
	var removed []string
	for _, r := range l1.Removed {
		removed = append(removed, r.Path)
	}
	if want := []string{"/app/.env", "/root/.ssh/id_ed25519"}; !slices.Equal(removed, want) {
		t.Fatalf("layer 1 removes %v, want %v", removed, want)
	}
	if len(l1.Members) != 1 || l1.Members[0].Archive != "/app/lib.zip" || !slices.Equal(l1.Members[0].Members, []string{"conf/token.txt"}) {
		t.Fatalf("layer 1 archive edits %+v", l1.Members)
	}
	if l1.Compression != image.Gzip || l1.GzipLevel != 6 || ip.Layers[2].Compression != image.Zstd {
		t.Fatalf("compression kept? layer 1 %s -%d, layer 2 %s", l1.Compression, l1.GzipLevel, ip.Layers[2].Compression)
	}
	if r := ip.Layers[2].Removed; len(r) != 1 || r[0].Reason != scrub.ReasonWhiteout || r[0].Path != "/app/.env" {
		t.Fatalf("layer 2 should drop only its dangling .env whiteout: %+v", r)
	}
	var fields []string
	for _, c := range ip.ConfigChanges {
		fields = append(fields, c.Field)
	}
	slices.Sort(fields)
	if !slices.Contains(fields, "Env[GITHUB_TOKEN]") || !slices.Contains(fields, "history[2].created_by") {
		t.Fatalf("config changes %v", fields)
	}
	if v := p.Verification; v == nil || !v.Rescanned || v.Fingerprints != len(fingerprints(fs)) {
		t.Fatalf("verification %+v", p.Verification)
	}
	if p.RemovedPaths != 3 {
		t.Fatalf("removed paths = %d, want 3 (.env, key, zip member)", p.RemovedPaths)
	}

	// Write it, read it back, compare.
	outDir := filepath.Join(t.TempDir(), "out")
	if _, err := p.Apply(ctx, scrub.Destination{Ref: "oci:" + outDir + ":clean"}); err != nil {
		t.Fatal(err)
	}
	dst := open(t, ctx, "oci:"+outDir+":clean")
	if dst.root.Descriptor.Digest != p.NewRoot.Digest {
		t.Fatalf("written root %s, plan says %s", dst.root.Descriptor.Digest, p.NewRoot.Digest)
	}
	newIm, oldIm := single(t, dst.root), single(t, src.root)
	for _, i := range []int{0, 3} {
		if newIm.Layers[i].Descriptor.Digest != oldIm.Layers[i].Descriptor.Digest {
			t.Errorf("untouched layer %d changed digest", i)
		}
	}
	before, after := finalFS(t, ctx, src.store, oldIm), finalFS(t, ctx, dst.store, newIm)
	if d := diffFS(before, after, func(p string) bool { return p == "app/lib.zip" }); len(d) > 0 {
		t.Fatalf("final filesystem differs beyond the removed paths:\n%s", strings.Join(d, "\n"))
	}
	if before["app/lib.zip"] == after["app/lib.zip"] {
		t.Fatal("the zip was not rewritten")
	}
	var ann map[string]string = manifestAnnotations(t, dst)
	if ann[scrub.AnnotationRemovedPaths] != "3" || ann[image.AnnotationBaseName] != "example/base:1" || ann[scrub.AnnotationScrubbedFrom] != string(src.root.Descriptor.Digest) {
		t.Fatalf("annotations %v", ann)
	}
	cfg := string(mustReadFile(t, filepath.Join(outDir, "blobs", "sha256", newIm.ConfigRef.Digest.Hex())))
	for _, s := range []string{envToken, npmToken} {
		if strings.Contains(cfg, s) {
			t.Fatalf("config still holds a secret")
		}
	}
	if !strings.Contains(cfg, "GITHUB_TOKEN=<redacted by strata>") || !strings.Contains(cfg, "NPM_TOKEN=<redacted by strata>") {
		t.Fatalf("config not redacted as expected: %s", cfg)
	}
	again := findings(t, ctx, dst, eng)
	gone := fingerprints(fs)
	for _, f := range again {
		if gone[f.Fingerprint] {
			t.Fatalf("rescan of the written image finds %s at %s", f.Rule, f.Path)
		}
	}
}

func fingerprints(fs []scan.Finding) map[string]bool {
	m := map[string]bool{}
	for _, f := range fs {
		m[f.Fingerprint] = true
	}
	return m
}

func manifestAnnotations(t testing.TB, o opened) map[string]string {
	t.Helper()
	if o.root.Parsed == nil || o.root.Parsed.Manifest == nil {
		t.Fatal("root is not a manifest")
	}
	return o.root.Parsed.Manifest.Annotations
}

// TestPaths covers globs, directories and the plan's verdicts.
func TestPaths(t *testing.T) {
	ctx := testCtx(t)
	ref, _ := writeLayout(t, leakyImage(t))
	src := open(t, ctx, ref)
	for _, c := range []struct {
		name      string
		sel       scrub.Selectors
		rewritten []int
		gone      []string // paths absent from the result's final filesystem
		visible   bool     // at least one removed entry was visible
		err       error
	}{
		{"dotenv anywhere", scrub.Selectors{Paths: []string{"**/.env"}}, []int{1, 2}, nil, false, nil},
		{"ssh dir", scrub.Selectors{Paths: []string{"/root/.ssh"}}, []int{1, 3}, []string{"root/.ssh", "root/.ssh/authorized_keys"}, true, nil},
		{"key then opaque dangles", scrub.Selectors{Paths: []string{"/root/.ssh/id_*", "/root/.ssh/known_hosts"}}, []int{1, 3}, nil, false, nil},
		{"visible file", scrub.Selectors{Paths: []string{"/etc/os-release"}}, []int{0}, []string{"etc/os-release"}, true, nil},
		{"env only", scrub.Selectors{Env: []string{"GITHUB_TOKEN"}}, nil, nil, false, nil},
		{"nothing", scrub.Selectors{Paths: []string{"/nope"}}, nil, nil, false, scrub.ErrNothingToRemove},
		{"no selectors", scrub.Selectors{}, nil, nil, false, scrub.ErrNothingToRemove},
		{"root", scrub.Selectors{Paths: []string{"/"}}, nil, nil, false, scrub.ErrBadSelector},
		{"bad glob", scrub.Selectors{Paths: []string{"/a/["}}, nil, nil, false, scrub.ErrBadSelector},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: c.sel, WorkDir: t.TempDir()})
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var got []int
			visible := false
			for _, lp := range p.Images[0].Layers {
				if lp.Action == scrub.ActionRewritten {
					got = append(got, lp.Index)
				}
				for _, r := range lp.Removed {
					visible = visible || r.Visible
				}
			}
			if !slices.Equal(got, c.rewritten) || visible != c.visible {
				t.Fatalf("rewritten %v visible %v, want %v %v", got, visible, c.rewritten, c.visible)
			}
			out := filepath.Join(t.TempDir(), "o")
			if _, err := p.Apply(ctx, scrub.Destination{Ref: "oci:" + out}); err != nil {
				t.Fatal(err)
			}
			dst := open(t, ctx, "oci:"+out)
			after := finalFS(t, ctx, dst.store, single(t, dst.root))
			for _, g := range c.gone {
				if _, ok := after[g]; ok {
					t.Errorf("/%s still in the final filesystem", g)
				}
			}
		})
	}
}

// TestHardlinks: removing the target of hard links makes the first link a
// regular file and points the others at it.
func TestHardlinks(t *testing.T) {
	ctx := testCtx(t)
	img := fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{
		{Path: "a", Body: []byte("shared content\n"), Mode: 0o640, Uid: 7},
		{Path: "b", Type: tar.TypeLink, Linkname: "a"},
		{Path: "c", Type: tar.TypeLink, Linkname: "a"},
		{Path: "d", Body: []byte("other\n")},
	}}}}
	ref, _ := writeLayout(t, img)
	src := open(t, ctx, ref)
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: []string{"/a"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := filepath.Join(t.TempDir(), "o")
	if _, err := p.Apply(ctx, scrub.Destination{Ref: "oci:" + out}); err != nil {
		t.Fatal(err)
	}
	dst := open(t, ctx, "oci:"+out)
	before, after := finalFS(t, ctx, src.store, single(t, src.root)), finalFS(t, ctx, dst.store, single(t, dst.root))
	if d := diffFS(before, after, func(p string) bool { return p == "a" }); len(d) > 0 {
		t.Fatalf("differs: %v", d)
	}
	if _, ok := after["a"]; ok {
		t.Fatal("/a survived")
	}
	var types []string
	rc, _ := dst.store.Open(ctx, single(t, dst.root).Layers[0].Descriptor)
	defer rc.Close()
	tr := tarReader(t, rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		types = append(types, h.Name+":"+string(rune(h.Typeflag))+":"+h.Linkname)
	}
	if want := []string{"b:0:", "c:1:b", "d:0:"}; !slices.Equal(types, want) {
		t.Fatalf("entries %v, want %v", types, want)
	}
}

// TestRescan: removing a path rescans the result for the secrets found in
// the removed files; a copy left elsewhere fails the plan.
func TestRescan(t *testing.T) {
	ctx := testCtx(t)
	img := leakyImage(t)
	img.Layers = append(img.Layers, fixture.Layer{CreatedBy: "COPY backup /", Files: []fixture.File{
		{Path: "srv/env.bak", Body: []byte("STRIPE_API_KEY=" + stripeKey + "\n")},
	}})
	ref, _ := writeLayout(t, img)
	src := open(t, ctx, ref)
	eng := engine(t)
	_, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Engine: eng, Selectors: scrub.Selectors{Paths: []string{"/app/.env"}}})
	if !errors.Is(err, scrub.ErrInvariant) || !strings.Contains(err.Error(), "srv/env.bak") {
		t.Fatalf("err = %v, want an invariant error naming the copy left in srv/env.bak", err)
	}
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Engine: eng, Selectors: scrub.Selectors{Paths: []string{"/app/.env", "/srv/env.bak"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if v := p.Verification; !v.Rescanned || v.Fingerprints == 0 {
		t.Fatalf("verification %+v: want a rescan for the removed files' secrets", v)
	}
}

// TestSparseRefused: a sparse file in a layer that must be rewritten is
// refused (the tar writer would expand it); removing the sparse file
// itself is fine.
func TestSparseRefused(t *testing.T) {
	ctx := testCtx(t)
	raw := fixture.SparseTar(t, "s", 1<<20, []fixture.Fragment{{Offset: 1 << 19, Data: []byte("mid")}}, fixture.File{Path: "secret", Body: []byte("x")})
	ref, _ := writeLayout(t, fixture.Image{Layers: []fixture.Layer{{Raw: raw}}})
	src := open(t, ctx, ref)
	if _, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: []string{"/secret"}}}); !errors.Is(err, scrub.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: []string{"/s"}}})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

// TestConfigOnlyReadsNoLayer: redacting config values reuses every layer
// without reading one (the layer blobs are removed from the layout).
func TestConfigOnlyReadsNoLayer(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "src")
	writeLayoutAt(t, dir, leakyImage(t))
	src := open(t, ctx, "oci:"+dir+":latest")
	for _, l := range single(t, src.root).Layers {
		if err := os.Remove(filepath.Join(dir, "blobs", "sha256", l.Descriptor.Digest.Hex())); err != nil {
			t.Fatal(err)
		}
	}
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Env: []string{"GITHUB_TOKEN"}, BuildArgs: []string{"NPM_TOKEN"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, lp := range p.Images[0].Layers {
		if lp.Action != scrub.ActionReused {
			t.Fatalf("layer %d %s", lp.Index, lp.Action)
		}
	}
	if len(p.Images[0].ConfigChanges) != 2 || p.NewRoot.Digest == p.OldRoot.Digest {
		t.Fatalf("config changes %+v", p.Images[0].ConfigChanges)
	}
}

// TestDockerMediaTypes: a Docker v2 image keeps its media types; the scrub
// is recorded as config labels (Docker manifests have no annotations).
func TestDockerMediaTypes(t *testing.T) {
	ctx := testCtx(t)
	img := leakyImage(t)
	img.DockerMediaTypes, img.Annotations = true, nil
	ref, _ := writeLayout(t, img)
	src := open(t, ctx, ref)
	p, err := scrub.NewPlan(ctx, src.store, src.root, scrub.Options{Selectors: scrub.Selectors{Paths: []string{"/app/.env"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := filepath.Join(t.TempDir(), "o.tar")
	if _, err := p.Apply(ctx, scrub.Destination{Ref: "docker-archive:" + out + ":acme/app:clean"}); err != nil {
		t.Fatal(err)
	}
	dst := open(t, ctx, "docker-archive:"+out)
	im := single(t, dst.root)
	if im.Manifest.MediaType != image.MediaTypeDockerManifest || im.Layers[1].Descriptor.MediaType != image.MediaTypeDockerLayerGzip {
		t.Fatalf("media types %s / %s", im.Manifest.MediaType, im.Layers[1].Descriptor.MediaType)
	}
	if im.Config.Config.Labels[scrub.AnnotationRemovedPaths] != "1" {
		t.Fatalf("labels %v", im.Config.Config.Labels)
	}
	if strings.Contains(string(dst.root.Raw), "annotations") {
		t.Fatalf("docker manifest gained annotations: %s", dst.root.Raw)
	}
}
