package layer

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"testing"

	"github.com/stratascan/strata/image"
)

// benchLayer is ~24 MiB uncompressed of text and binary files, gzipped.
func benchLayer(b *testing.B) ([]byte, image.Descriptor) {
	b.Helper()
	rng := rand.New(rand.NewSource(1))
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	words := []string{"config", "value", "server", "the", "error", "name", "path", "return", "func", "data"}
	for i := 0; raw.Len() < 24<<20; i++ {
		var body []byte
		if i%4 == 0 {
			body = make([]byte, rng.Intn(30000))
			rng.Read(body[:len(body)/3])
		} else {
			var t bytes.Buffer
			for t.Len() < rng.Intn(5000)+100 {
				fmt.Fprintf(&t, "%s %s = %d\n", words[rng.Intn(len(words))], words[rng.Intn(len(words))], rng.Intn(1000))
			}
			body = t.Bytes()
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/f%d", i%50, i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	var gz bytes.Buffer
	zw := stdgzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	blob := gz.Bytes()
	b.SetBytes(int64(raw.Len()))
	return blob, image.Descriptor{Digest: image.FromBytes(blob), Size: int64(len(blob)), MediaType: image.MediaTypeOCILayerGzip}
}

// BenchmarkFloor is the cost any reader pays: stdlib gunzip + sha256 of both streams.
func BenchmarkFloor(b *testing.B) {
	blob, _ := benchLayer(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch, uh := sha256.New(), sha256.New()
		zr, _ := stdgzip.NewReader(io.TeeReader(bytes.NewReader(blob), ch))
		io.Copy(uh, zr)
	}
}

// BenchmarkWalk is strata's verified walk of the same layer, entries
// visited, contents skipped (what ls --all-layers does).
func BenchmarkWalk(b *testing.B) {
	blob, d := benchLayer(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Walk(context.Background(), bytes.NewReader(blob), d, "", Options{}, func(*Entry, io.Reader) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalkRead also reads every file's content (what scan does).
func BenchmarkWalkRead(b *testing.B) {
	blob, d := benchLayer(b)
	buf := make([]byte, 64<<10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Walk(context.Background(), bytes.NewReader(blob), d, "", Options{}, func(_ *Entry, r io.Reader) error {
			if r != nil {
				_, err := io.CopyBuffer(io.Discard, r, buf)
				return err
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
