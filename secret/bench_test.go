package secret

import (
	"bytes"
	"context"
	"testing"
)

func benchEngine(b testing.TB) *Engine {
	b.Helper()
	e, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Compile(); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkNew measures what a process pays before its first scan: New
// hashes the rule sources and compiles nothing (a fully cached rescan
// stops there).
func BenchmarkNew(b *testing.B) {
	for name, o := range map[string]Options{"default": {}, "pattern": {Patterns: []string{`FLAG\{[^}]+\}`}}} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				if _, err := New(o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompile measures an engine's compile once the built-in rules are
// parsed (per process, they cost ~150 ms more on first use: viper, gitleaks'
// Translate, regex compiles): merging, prefilter construction.
func BenchmarkCompile(b *testing.B) {
	benchEngine(b) // parse the built-in rules outside the timing
	b.ResetTimer()
	for range b.N {
		e, err := New(Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Compile(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanText measures text throughput on ~8 MB of Debian-like text,
// as files of a few KB to a few hundred KB.
func BenchmarkScanText(b *testing.B) {
	e := benchEngine(b)
	data := genText(8<<20, 1)
	var files [][]byte
	for off, i := 0, 0; off < len(data); i++ {
		sz := []int{2 << 10, 9 << 10, 40 << 10, 300 << 10}[i%4]
		end := min(len(data), off+sz)
		files = append(files, data[off:end])
		off = end
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	n := 0
	for range b.N {
		for _, f := range files {
			if _, err := e.ScanFile(context.Background(), "usr/share/doc/x/README", int64(len(f)), bytes.NewReader(f), func(Match) { n++ }); err != nil {
				b.Fatal(err)
			}
		}
	}
	if n > 0 {
		b.Logf("%d findings in generated text", n/b.N)
	}
}

// BenchmarkScanBinary measures binary files (skipped): near memcpy speed.
func BenchmarkScanBinary(b *testing.B) {
	e := benchEngine(b)
	data := make([]byte, 8<<20)
	copy(data, "\x7fELF\x02\x01\x01")
	for i := 8; i < len(data); i++ {
		data[i] = byte(i * 2654435761 >> 13)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		st, err := e.ScanFile(context.Background(), "usr/bin/x", int64(len(data)), bytes.NewReader(data), nil)
		if err != nil || !st.Skipped {
			b.Fatal(err, st)
		}
	}
}

// BenchmarkScanSmallFiles measures the fixed cost per file (man pages,
// configs): 500-byte text files and gzip-compressed ones.
func BenchmarkScanSmallFiles(b *testing.B) {
	e := benchEngine(b)
	text := genText(500, 9)
	gz := gzBytes(genText(3000, 10))
	for _, c := range []struct {
		name, path string
		data       []byte
	}{{"text", "usr/share/doc/pkg/README", text}, {"gz", "usr/share/man/de/man1/ls.1.gz", gz}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if _, err := e.ScanFile(context.Background(), c.path, int64(len(c.data)), bytes.NewReader(c.data), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodePass measures the decode pass alone (finding base64 runs,
// escapes and percent-encoding, decoding candidates) on the text of
// BenchmarkScanText, to compare with the whole scan.
func BenchmarkDecodePass(b *testing.B) {
	e := benchEngine(b)
	data := genText(8<<20, 1)
	fs := e.getFileScan()
	fs.begin(context.Background(), "usr/share/doc/x/README", nil, true)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		for off := 0; off < len(data); off += chunkSize {
			end := min(len(data), off+chunkSize)
			fs.decodePass(data[:end], off, end)
		}
	}
}
