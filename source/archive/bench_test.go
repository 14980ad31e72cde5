package archive_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/source/archive"
)

// writeBenchTar writes a tar with n members of size bytes each.
func writeBenchTar(b *testing.B, n int, size int64) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.tar")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	tw := tar.NewWriter(f)
	buf := make([]byte, 1<<20)
	for i := 0; i < n; i++ {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("d%03d/f%06d", i%1000, i), Mode: 0o644, Size: size}); err != nil {
			b.Fatal(err)
		}
		for left := size; left > 0; {
			k := min(left, int64(len(buf)))
			tw.Write(buf[:k])
			left -= k
		}
	}
	tw.Close()
	f.Close()
	return p
}

// BenchmarkOpenTarManyMembers: indexing cost per member (the scan seeks
// over data, so it depends on the member count, not the bytes).
func BenchmarkOpenTarManyMembers(b *testing.B) {
	const n = 10000
	p := writeBenchTar(b, n, 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t, err := archive.OpenTar(context.Background(), p)
		if err != nil {
			b.Fatal(err)
		}
		t.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/member")
}

// BenchmarkReadMember: streaming one 64 MiB member through TarFS.
func BenchmarkReadMember(b *testing.B) {
	const size = 64 << 20
	p := writeBenchTar(b, 1, size)
	t, err := archive.OpenTar(context.Background(), p)
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	name := t.Members()[0]
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := t.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, f); err != nil || n != size {
			b.Fatal(n, err)
		}
		f.Close()
	}
}
