package secret

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// BenchmarkPathologicalInputs: 256 KiB lines full of keywords, one
// sub-benchmark per unit (they must stay far inside the default 10 s
// per-file timeout; a test bounding them by the clock failed on busy
// machines).
func BenchmarkPathologicalInputs(b *testing.B) {
	e := defaultEngine(b)
	for _, unit := range pathologicalUnits {
		data := []byte(strings.Repeat(unit, (256<<10)/len(unit)))
		b.Run(strings.TrimSpace(strings.ReplaceAll(unit, "\n", " ")), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				st, err := e.ScanFile(context.Background(), "x.yaml", int64(len(data)), bytes.NewReader(data), nil)
				if err != nil || st.TimedOut {
					b.Fatalf("%+v %v", st, err)
				}
			}
		})
	}
}

// BenchmarkScanFileSeeds measures FuzzScanFile's kind of input: archives,
// binaries and long keyword runs through ScanFile.
func BenchmarkScanFileSeeds(b *testing.B) {
	e := defaultEngine(b)
	seeds := map[string][]byte{
		"long.txt": []byte(strings.Repeat("key=", 5000)),
		"x.gz":     gzBytes([]byte("token: ghp_0123456789abcdefghijABCDEFGHIJ012345\n")),
		"id_rsa":   []byte("-----BEGIN RSA PRIVATE KEY-----\n" + strings.Repeat("QUJD", 400) + "\n-----END RSA PRIVATE KEY-----"),
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for name, data := range seeds {
			if _, err := e.ScanFile(context.Background(), name, int64(len(data)), bytes.NewReader(data), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}
