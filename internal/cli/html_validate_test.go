package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/internal/testtool"
)

// TestHTMLValidates checks every HTML report with the Nu HTML Checker,
// the W3C's HTML5 validator: any error fails the test.
func TestHTMLValidates(t *testing.T) {
	dir := t.TempDir()
	var pages []string
	for _, c := range htmlCases(t) {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(renderHTML(t, c)), 0o644); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
	}
	testtool.ValidateHTML(t, pages...)
}
