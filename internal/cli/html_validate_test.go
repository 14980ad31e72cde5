package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratascan/strata/internal/testtool"
)

// vnuJar is the Nu HTML Checker: $STRATA_VNU_JAR, else where
// scripts/test.sh puts it (npm's vnu-jar package in the user cache).
func vnuJar(t *testing.T) string {
	p := os.Getenv("STRATA_VNU_JAR")
	if p == "" {
		cache, err := os.UserCacheDir() // $XDG_CACHE_HOME or ~/.cache
		if err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(cache, "strata-test", "vnu", "node_modules", "vnu-jar", "build", "dist", "vnu.jar")
	}
	return testtool.RequireFile(t, p, "scripts/test.sh fetches it: npm install --prefix ~/.cache/strata-test/vnu vnu-jar; or set STRATA_VNU_JAR")
}

// vnuMessage is one message of the checker's JSON output.
type vnuMessage struct {
	Type, SubType, URL, Message, Extract string
	LastLine                             int
}

// TestHTMLValidates checks every HTML report with the Nu HTML Checker,
// the W3C's HTML5 validator: any error fails the test.
func TestHTMLValidates(t *testing.T) {
	java := testtool.Require(t, "java")
	jar := vnuJar(t)
	dir := t.TempDir()
	var pages []string
	for _, c := range htmlCases(t) {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(renderHTML(t, c)), 0o644); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
	}
	// A control page with a known error shows the checker really checks.
	control := filepath.Join(dir, "control-invalid.html")
	if err := os.WriteFile(control, []byte(`<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><p id="a"></p><p id="a"></p></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	pages = append(pages, control)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// One run for every page: the JVM starts once.
	cmd := exec.CommandContext(ctx, java, append([]string{"-jar", jar, "--errors-only", "--format", "json"}, pages...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // the checker writes its report to stderr
	runErr := cmd.Run()
	var rep struct{ Messages []vnuMessage }
	if err := json.Unmarshal(stderr.Bytes(), &rep); err != nil {
		t.Fatalf("vnu: %v; output: %s", runErr, stderr.String())
	}
	controlErrors := 0
	for _, m := range rep.Messages {
		if filepath.Base(m.URL) == filepath.Base(control) {
			controlErrors++
			continue
		}
		t.Errorf("%s:%d: %s %s: %s (%q)", filepath.Base(m.URL), m.LastLine, m.Type, m.SubType, m.Message, m.Extract)
	}
	if controlErrors == 0 {
		t.Errorf("vnu found no error in the invalid control page (duplicate id): output %s", stderr.String())
	}
	t.Logf("%d pages valid HTML5 (vnu %s)", len(pages)-1, jar)
}
