package store

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/source"
)

var (
	engOnce sync.Once
	eng     *secret.Engine
	engErr  error
)

func engine(t *testing.T) *secret.Engine {
	t.Helper()
	engOnce.Do(func() { eng, engErr = secret.New(secret.Options{}) })
	if engErr != nil {
		t.Fatal(engErr)
	}
	return eng
}

// target loads the OCI layout dir:tag as a scan target.
func target(t *testing.T, dir, tag string) scan.Target {
	t.Helper()
	ctx := context.Background()
	ref := "oci:" + dir + ":" + tag
	st, err := source.Open(ctx, ref, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	root, err := source.Load(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := source.Select(root, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return scan.Target{Ref: ref, Store: st, Root: root, Images: imgs}
}

const (
	ghTok  = "ghp_R2w7dmKc0aFq9ZtXyP4LbN8sHjUe3VoG1iQk"
	ghTok2 = "ghp_Zx1Cv2Bn3Mm4Ll5Kk6Jj7Hh8Gg9Ff0Dd1SsA"
)

// twoImages writes two images sharing a base layer: the base holds a token
// that the second image's upper layer deletes (its state needs the stored
// listing), the first image's own layer another token.
func twoImages(t *testing.T) string {
	dir := t.TempDir()
	base := fixture.Layer{CreatedBy: "ADD base.tar /", Files: []fixture.File{
		{Path: "etc/os-release", Body: []byte("ID=debian\n")},
		{Path: "root/.git-credentials", Body: []byte("https://u:" + ghTok + "@github.com\n")},
	}}
	fixture.WriteLayout(t, dir, "a", fixture.Image{Layers: []fixture.Layer{base,
		{CreatedBy: "COPY app /app", Files: []fixture.File{{Path: "app/.env", Body: []byte("GITHUB_TOKEN=" + ghTok2 + "\n")}}}}})
	fixture.WriteLayout(t, dir, "b", fixture.Image{Layers: []fixture.Layer{base,
		{CreatedBy: "RUN rm /root/.git-credentials", Files: []fixture.File{{Path: "root/.wh..git-credentials"}}}}})
	return dir
}

func summary(fs []scan.Finding) string {
	var out []string
	for _, f := range fs {
		l := -1
		if f.Layer != nil {
			l = *f.Layer
		}
		out = append(out, fmt.Sprintf("%s %s %d %s %s %s", f.Image, f.Path, l, f.State, f.Rule, f.Fingerprint))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestResultStore: scan.Run with the store as its ResultStore scans every
// distinct layer once (the shared base too); a second run answers every
// layer from the store (listings included: the deleted file's state) with
// the same findings and scans nothing again.
func TestResultStore(t *testing.T) {
	ctx := context.Background()
	dir := twoImages(t)
	forEach(t, func(t *testing.T, s *Store, _ string) {
		targets := []scan.Target{target(t, dir, "a"), target(t, dir, "b")}
		opts := scan.Options{Engine: engine(t), Results: s}
		rs := opts.Engine.RulesetHash()
		first, err := scan.Run(ctx, targets, opts)
		if err != nil {
			t.Fatal(err)
		}
		keys := scan.NewPlan(targets).Keys()
		if len(keys) != 3 || first.Coverage.Layers != 3 || first.Coverage.LayersFromCache != 0 {
			t.Fatalf("keys %v, coverage %+v", keys, first.Coverage)
		}
		if !strings.Contains(summary(first.Findings), "deleted") || len(first.Findings) < 3 {
			t.Fatalf("findings:\n%s", summary(first.Findings))
		}
		second, err := scan.Run(ctx, targets, opts)
		if err != nil {
			t.Fatal(err)
		}
		if second.Coverage.LayersFromCache != 3 {
			t.Errorf("second run: %d of 3 layers from the store", second.Coverage.LayersFromCache)
		}
		if a, b := summary(first.Findings), summary(second.Findings); a != b {
			t.Errorf("findings differ:\nfirst:\n%s\nsecond:\n%s", a, b)
		}
		for _, k := range keys {
			if n, err := s.LayerScanCount(ctx, k, rs); n != 1 || err != nil {
				t.Errorf("layer %s scanned %d times (%v), want 1", k, n, err)
			}
			if l, err := s.LayerListing(ctx, k, rs); len(l) == 0 || err != nil {
				t.Errorf("layer %s: listing of %d bytes (%v)", k, len(l), err)
			}
		}
		if n, _ := s.LayerScanCount(ctx, keys[0], "other-ruleset"); n != 0 {
			t.Errorf("scan count under another ruleset %d", n)
		}
		got, err := s.LayerResults(ctx, append(keys, "sha256:missing"), "other-ruleset")
		if err != nil || len(got) != 0 {
			t.Errorf("results under another ruleset: %d (%v)", len(got), err)
		}
		st, err := s.Stats(ctx)
		if err != nil || st.Layers != 3 || st.LayerScans != 3 || st.Files < 3 || st.BytesRead <= 0 {
			t.Errorf("stats %+v (%v)", st, err)
		}
	})
}

// TestResultStoreBlobs: text results and listings come back byte for byte;
// a corrupt stored result is a miss, and the next put counts a scan.
func TestResultStoreBlobs(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		if _, ok, err := s.TextResult(ctx, "k", "rs"); ok || err != nil {
			t.Fatalf("text miss: %v %v", ok, err)
		}
		for _, v := range [][]byte{[]byte(`[{"rule":"x"}]`), {}, {0, 1, 2, 0xff}} {
			if err := s.PutTextResult(ctx, "k", "rs", v); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.TextResult(ctx, "k", "rs")
			if !ok || err != nil || !bytes.Equal(got, v) || got == nil {
				t.Errorf("text %q: got %q %v %v", v, got, ok, err)
			}
		}
		if l, err := s.LayerListing(ctx, "none", "rs"); l != nil || err != nil {
			t.Errorf("listing miss: %v %v", l, err)
		}
		r := &scan.LayerResult{Files: 7, Bytes: 99}
		if err := s.PutLayerResult(ctx, "sha256:k", "rs", r); err != nil {
			t.Fatal(err)
		}
		got, err := s.LayerResults(ctx, []string{"sha256:k"}, "rs")
		if err != nil || got["sha256:k"] == nil || got["sha256:k"].Files != 7 || got["sha256:k"].Bytes != 99 {
			t.Fatalf("round trip: %+v %v", got, err)
		}
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE layer_results SET result = ?`), []byte("garbage")); err != nil {
			t.Fatal(err)
		}
		if got, err := s.LayerResults(ctx, []string{"sha256:k"}, "rs"); err != nil || len(got) != 0 {
			t.Errorf("corrupt result: %d results, %v; want a miss", len(got), err)
		}
		if err := s.PutLayerResult(ctx, "sha256:k", "rs", r); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.LayerScanCount(ctx, "sha256:k", "rs"); n != 2 {
			t.Errorf("scan count %d, want 2", n)
		}
	})
}
