package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/testtool"
)

// TestPagesValidate checks every dashboard page, as served over the
// seeded store, with the Nu HTML Checker: any HTML5 error fails.
func TestPagesValidate(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	dir := t.TempDir()
	var pages []string
	for _, p := range []struct{ name, path, auth string }{
		{"login", "/login", ""},
		{"unauthorized", "/", ""},
		{"overview", "/", "Bearer " + f.token},
		{"findings", "/findings?repository=team/app", "Bearer " + f.token},
		{"fingerprint", "/fingerprints/" + fingerprint(secretA), "Bearer " + f.token},
		{"image", f.imageURL("/images", "app1", "team/app"), "Bearer " + f.token},
		{"not-found", "/images/" + testRegistry + "/team/app@" + string(digestOf("none")), "Bearer " + f.token},
	} {
		_, h, body := f.do(t, "GET", p.path, p.auth, nil, nil)
		if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %s is not a page", p.path, h.Get("Content-Type"))
		}
		file := filepath.Join(dir, p.name+".html")
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, file)
	}
	testtool.ValidateHTML(t, pages...)
}
