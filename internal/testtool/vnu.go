package testtool

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// vnuJar is the Nu HTML Checker: $STRATA_VNU_JAR, else where
// scripts/test.sh puts it (npm's vnu-jar package in the user cache).
func vnuJar(t testing.TB) string {
	t.Helper()
	p := os.Getenv("STRATA_VNU_JAR")
	if p == "" {
		cache, err := os.UserCacheDir() // $XDG_CACHE_HOME or ~/.cache
		if err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(cache, "strata-test", "vnu", "node_modules", "vnu-jar", "build", "dist", "vnu.jar")
	}
	return RequireFile(t, p, "scripts/test.sh fetches it: npm install --prefix ~/.cache/strata-test/vnu vnu-jar; or set STRATA_VNU_JAR")
}

// vnuMessage is one message of the checker's JSON output.
type vnuMessage struct {
	Type, SubType, URL, Message, Extract string
	LastLine                             int
}

// ValidateHTML checks the HTML files pages with the Nu HTML Checker, the
// W3C's HTML5 validator, in one run (the JVM starts once): every error
// fails the test. A control page with a known error is checked along, to
// show the checker really checks. java and the checker's jar are
// required as Require and RequireFile say.
func ValidateHTML(t testing.TB, pages ...string) {
	t.Helper()
	java := Require(t, "java")
	jar := vnuJar(t)
	control := filepath.Join(t.TempDir(), "control-invalid.html")
	if err := os.WriteFile(control, []byte(`<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><p id="a"></p><p id="a"></p></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"-jar", jar, "--errors-only", "--format", "json"}, pages...)
	cmd := exec.CommandContext(ctx, java, append(args, control)...)
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
	t.Logf("%d pages checked by vnu (%s)", len(pages), jar)
}
