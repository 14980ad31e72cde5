package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsUpToDate regenerates the man pages and completion scripts and
// compares them with docs/: a command or flag added without running
// go generate ./cmd/strata fails here.
func TestDocsUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateDocs(dir); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"man", "completion"} {
		got, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		want, _ := filepath.Glob(filepath.Join("..", "..", "docs", sub, "*"))
		if len(got) != len(want) {
			t.Errorf("docs/%s has %d files, the command tree makes %d: run go generate ./cmd/strata", sub, len(want), len(got))
		}
		for _, g := range got {
			w := filepath.Join("..", "..", "docs", sub, filepath.Base(g))
			gb, _ := os.ReadFile(g)
			wb, err := os.ReadFile(w)
			if err != nil || !bytes.Equal(gb, wb) {
				t.Errorf("docs/%s/%s is stale: run go generate ./cmd/strata", sub, filepath.Base(g))
			}
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, "man", "strata-scan.1"))
	for _, want := range []string{"--fail-on", "oci:examples/leaky-app:latest"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("strata-scan.1 lacks %q", want)
		}
	}
	root, _ := os.ReadFile(filepath.Join(dir, "man", "strata.1"))
	if !strings.Contains(string(root), "STRATA_") {
		t.Error("strata.1 does not document the STRATA_* environment")
	}
}
