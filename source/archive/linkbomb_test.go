package archive_test

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/source/archive"
)

// linkBombFiles are chains of symlinked directories looping through their
// parents (dN -> dN-1/../dN-1) and a self-referencing link.
func linkBombFiles() []fixture.File {
	files := []fixture.File{{Path: "d0/f", Body: []byte("x")}}
	for i := 1; i < 30; i++ {
		files = append(files, fixture.File{Path: fmt.Sprintf("d%d", i), Type: tar.TypeSymlink, Linkname: fmt.Sprintf("d%d/../d%d", i-1, i-1)})
	}
	return append(files, fixture.File{Path: "a", Type: tar.TypeSymlink, Linkname: "a/a/a/a/a/a/a/a/a"})
}

var linkBombLookups = []string{"d29/f", "a/a/a/a/a/a/a/x", "d29/d29/d29/f"}

// BenchmarkTarFSLinkBombs measures one round of lookups through the link
// bombs (it used to be a 100 ms bound in TestTarFSLinkBombs; a time bound
// belongs here, where a slow machine does not fail the suite).
func BenchmarkTarFSLinkBombs(b *testing.B) {
	p := filepath.Join(b.TempDir(), "bombs.tar")
	if err := os.WriteFile(p, fixture.Tar(b, linkBombFiles()), 0o644); err != nil {
		b.Fatal(err)
	}
	tfs, err := archive.OpenTar(context.Background(), p)
	if err != nil {
		b.Fatal(err)
	}
	defer tfs.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, name := range linkBombLookups {
			tfs.Open(name)
		}
	}
}
