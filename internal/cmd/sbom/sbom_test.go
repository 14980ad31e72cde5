package main

import (
	"debug/buildinfo"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDocumentOfBinary: the SBOM of a real Go binary with dependency
// modules (mkimage, which links go-containerregistry) lists them with
// purls, each related to the main module.
func TestDocumentOfBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mkimage")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/stratascan/strata/internal/cmd/mkimage").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	d := document("strata", bi, time.Unix(0, 0))
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || back["spdxVersion"] != "SPDX-2.3" {
		t.Fatalf("%v %v", err, back["spdxVersion"])
	}
	if len(d.Packages) < 2 || len(d.Relationships) != len(d.Packages) {
		t.Fatalf("%d packages, %d relationships", len(d.Packages), len(d.Relationships))
	}
	ids := map[string]bool{}
	for _, p := range d.Packages {
		if ids[p.SPDXID] {
			t.Errorf("duplicate SPDXID %s", p.SPDXID)
		}
		ids[p.SPDXID] = true
		if len(p.ExternalRefs) == 0 || !strings.HasPrefix(p.ExternalRefs[0].Locator, "pkg:golang/"+p.Name+"@") {
			t.Errorf("package %s has no purl: %+v", p.Name, p.ExternalRefs)
		}
	}
	for _, r := range d.Relationships {
		if !ids[r.Related] {
			t.Errorf("relationship to unknown %s", r.Related)
		}
	}
	if !strings.Contains(string(b), "pkg:golang/github.com/google/go-containerregistry@v") {
		t.Error("go-containerregistry missing from the SBOM of a binary that links it")
	}
}
