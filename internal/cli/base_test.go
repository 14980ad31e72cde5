package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/report"
)

func baseLayer(name string) fixture.Layer {
	return fixture.Layer{Files: []fixture.File{{Path: name, Body: bytes.Repeat([]byte(name), 500)}}}
}

func TestBaseCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := registrytest.NewEmbedded(t, registrytest.Options{})
	dir := t.TempDir()
	push := func(dest string, img fixture.Image) {
		lay := filepath.Join(dir, strings.NewReplacer(":", "_", "/", "_").Replace(dest))
		fixture.WriteLayout(t, lay, "t", img)
		registrytest.PushLayout(t, ctx, reg, lay, "t", dest)
	}
	deb, app, alp := baseLayer("debian"), baseLayer("app"), baseLayer("alpine")
	push("debian:12", fixture.Image{Layers: []fixture.Layer{deb}})
	push("app:good", fixture.Image{Layers: []fixture.Layer{deb, app}})
	push("app:bad", fixture.Image{Layers: []fixture.Layer{alp, app}})
	db := filepath.Join(dir, "bases.db")
	h := reg.Host

	out, errs, code := run(t, "", "base", "add", "--insecure", "--bases", db, h+"/debian:12")
	if code != 0 || !strings.Contains(out, "approved debian linux/amd64") {
		t.Fatalf("base add: %d %s %s", code, out, errs)
	}
	out, _, code = run(t, "", "base", "list", "--bases", db)
	if code != 0 || !strings.Contains(out, "debian") || !strings.Contains(out, h+"/debian:12") {
		t.Fatalf("base list: %d %s", code, out)
	}

	out, errs, code = run(t, "", "base", "check", "--insecure", "--bases", db, h+"/app:good")
	if code != 0 || !strings.Contains(out, "ok") || !strings.Contains(out, "1+1") {
		t.Errorf("check good: exit %d\n%s%s", code, out, errs)
	}
	out, _, code = run(t, "", "base", "check", "--insecure", "--bases", db, h+"/app:bad")
	if code != ExitFindings || !strings.Contains(out, "no approved base") {
		t.Errorf("check bad: exit %d, want 1\n%s", code, out)
	}
	// --all-tags, JSON.
	out, _, code = run(t, "", "base", "check", "--insecure", "--bases", db, "--all-tags", "-o", "json", h+"/app:good")
	var doc struct {
		Results []provenance.Result `json:"results"`
		Summary struct {
			Checked, OK, NoApprovedBase int
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if code != ExitFindings || len(doc.Results) != 2 || doc.Summary.OK != 1 || doc.Summary.NoApprovedBase != 1 {
		t.Errorf("--all-tags: exit %d %+v", code, doc)
	}
	// --catalog: every tag of every repository (debian:12 is its own base).
	out, _, code = run(t, "", "base", "check", "--insecure", "--bases", db, "--catalog", h)
	if code != ExitFindings || strings.Count(out, "\n"+h) != 3 {
		t.Errorf("--catalog: exit %d\n%s", code, out)
	}
	// An unreadable image: exit 2.
	if _, _, code = run(t, "", "base", "check", "--insecure", "--bases", db, h+"/app:missing"); code != ExitError {
		t.Errorf("missing image: exit %d, want 2", code)
	}

	// export → import → export is byte-identical; remove empties the store.
	exp := filepath.Join(dir, "bases.json")
	if _, errs, code = run(t, "", "base", "export", "--bases", db, exp); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	db2 := filepath.Join(dir, "b2.db")
	if out, errs, code = run(t, "", "base", "import", "--bases", db2, exp); code != 0 {
		t.Fatalf("import: %s %s", out, errs)
	}
	out, _, _ = run(t, "", "base", "export", "--bases", db2)
	want, _ := os.ReadFile(exp)
	if out != string(want) {
		t.Errorf("export after import differs:\n%s\n---\n%s", out, want)
	}
	if out, errs, code = run(t, "", "base", "remove", "--bases", db2, "debian"); code != 0 || !strings.Contains(out, "removed debian") {
		t.Errorf("remove: %d %s %s", code, out, errs)
	}
	if _, errs, code = run(t, "", "base", "check", "--insecure", "--bases", db2, h+"/app:good"); code != ExitError || !strings.Contains(errs, "no approved bases") {
		t.Errorf("check with empty store: exit %d %s", code, errs)
	}
}

// digest infer on an uncompressed local copy, against the registry copy
// that skopeo pushed from Go-gzip (level 6) layers.
func TestDigestInferCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := registrytest.NewEmbedded(t, registrytest.Options{})
	dir := t.TempDir()
	gz := fixture.Image{Layers: []fixture.Layer{baseLayer("one"), baseLayer("two")}}
	fixture.WriteLayout(t, filepath.Join(dir, "gz"), "t", gz)
	registrytest.PushLayout(t, ctx, reg, filepath.Join(dir, "gz"), "t", "app:v1")
	raw := gz
	raw.Layers = []fixture.Layer{{Files: gz.Layers[0].Files, Compression: "none"}, {Files: gz.Layers[1].Files, Compression: "none"}}
	fixture.WriteLayout(t, filepath.Join(dir, "raw"), "t", raw)

	out, errs, code := run(t, "", "digest", "infer", "--insecure", "oci:"+filepath.Join(dir, "raw")+":t", "--against", reg.Ref("app", ":v1"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, s := range []string{"depend on the compressor", "go-gzip-6", "2 of 2 layers reproduced", "layer 0", "<= served"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	out, _, code = run(t, "", "digest", "infer", "-o", "json", "--profile", "go-gzip-6,go-gzip-1", "oci:"+filepath.Join(dir, "raw")+":t")
	var rep report.Inference
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("json: %v %d\n%s", err, code, out)
	}
	if len(rep.Layers) != 2 || len(rep.Layers[0].Candidates) != 2 || rep.Caveat == "" || rep.Versions["go"] == "" {
		t.Errorf("json report: %+v", rep)
	}
}
