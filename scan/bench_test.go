package scan

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/secret"
)

// BenchmarkScanImage measures a whole scan of a one-layer image against the
// floor (gunzip + sha256 of the compressed and uncompressed streams). By
// default the image is generated (about 48 MiB of text and binary files with
// a few secrets); set STRATA_BENCH_ROOTS to a colon-separated list of
// directories to pack real trees instead (for example
// /usr/share:/usr/bin:/etc:/var/lib/dpkg; a root given as DIR=/ is packed as
// the filesystem root, without proc, sys and dev: a debootstrap tree), and
// optionally STRATA_BENCH_DIR to keep the built layout between runs:
//
//	go test ./scan -run XXX -bench ScanImage -benchtime 1x
//	STRATA_BENCH_ROOTS=/usr/share:/usr/bin:/etc go test ./scan -run XXX -bench ScanImage -benchtime 1x
func BenchmarkScanImage(b *testing.B) {
	roots := os.Getenv("STRATA_BENCH_ROOTS")
	dir, tag := os.Getenv("STRATA_BENCH_DIR"), "latest"
	if layout := os.Getenv("STRATA_BENCH_LAYOUT"); layout != "" {
		dir, tag, _ = strings.Cut(layout, ":")
	} else {
		if roots == "" {
			gen := filepath.Join(b.TempDir(), "tree")
			genTree(b, gen, 48<<20)
			roots = gen + "=/"
		}
		if dir == "" {
			dir = b.TempDir()
		}
		if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
			t0 := time.Now()
			buildTreeImage(b, dir, strings.Split(roots, ":"))
			b.Logf("built image from %s in %s", roots, time.Since(t0))
		}
	}
	tg := open(b, dir, tag, false)
	var compressed int64
	for _, l := range tg.Images[0].Layers {
		compressed += l.Descriptor.Size
	}
	b.Logf("%d layers: %d bytes compressed", len(tg.Images[0].Layers), compressed)

	var floor, floorCPU, coldCPU time.Duration
	b.Run("floor", func(b *testing.B) {
		for range b.N {
			t0, c0 := time.Now(), cpuTime()
			var total int64
			for _, l := range tg.Images[0].Layers {
				f, err := os.Open(fixture.BlobPath(dir, l.Descriptor.Digest))
				if err != nil {
					b.Fatal(err)
				}
				hc, hu := sha256.New(), sha256.New()
				zr, err := gzip.NewReader(io.TeeReader(f, hc))
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(hu, zr)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
				total += n
			}
			floor, floorCPU = time.Since(t0), cpuTime()-c0
			b.SetBytes(total)
		}
	})
	eng, err := secret.New(secret.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var cold time.Duration
	b.Run("scan", func(b *testing.B) {
		for range b.N {
			t0, c0 := time.Now(), cpuTime()
			res, err := Run(context.Background(), []Target{tg}, Options{Engine: eng})
			if err != nil {
				b.Fatal(err)
			}
			cold, coldCPU = time.Since(t0), cpuTime()-c0
			b.SetBytes(res.Coverage.LayerBytes)
			b.ReportMetric(float64(len(res.Findings)), "findings")
			b.ReportMetric(float64(res.Coverage.Bytes)/1e6, "MB-text")
			for _, f := range res.Findings {
				b.Logf("finding: %s %s:%d %s", f.Rule, f.Path, f.Line, f.Redacted)
			}
		}
	})
	cache, err := OpenCache(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	if _, err := Run(context.Background(), []Target{tg}, Options{Engine: eng, Results: cache}); err != nil {
		b.Fatal(err)
	}
	var warm time.Duration
	b.Run("rescan-warm", func(b *testing.B) {
		for range b.N {
			t0 := time.Now()
			warmRescan(b, dir, tag, cache.Path())
			warm = time.Since(t0)
		}
	})
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.Logf("floor %s (cpu %s), scan %s (cpu %s) = %.2fx the floor, warm rescan %s (%.1f%% of the scan), peak RSS %d MB",
		floor, floorCPU, cold, coldCPU, float64(cold)/float64(floor), warm, 100*float64(warm)/float64(cold), ru.Maxrss/1024)
}

// warmRescan does what a `strata scan` process does once the cache is warm
// (a new engine, cache and source each time) and checks that every layer
// came from the cache and the rules were never compiled.
func warmRescan(b *testing.B, dir, tag, cachePath string) *Result {
	b.Helper()
	ctx := context.Background()
	eng, err := secret.New(secret.Options{})
	if err != nil {
		b.Fatal(err)
	}
	cache, err := OpenCache(ctx, filepath.Dir(cachePath))
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	tg := open(b, dir, tag, false)
	res, err := Run(ctx, []Target{tg}, Options{Engine: eng, Results: cache})
	if err != nil || res.Coverage.LayersFromCache != res.Coverage.Layers {
		b.Fatal(err, res.Coverage)
	}
	if eng.Compiled() {
		b.Fatal("a warm rescan compiled the rules")
	}
	return res
}

// BenchmarkWarmRescan measures a warm rescan as a new process does it (new
// engine, cache handle and source; every layer, config text and
// attestation from the cache; the rules never compiled). It uses the
// layout in STRATA_BENCH_LAYOUT=DIR[:TAG] if set (scripts/bench.sh's
// images), else a generated image of 8 layers of 2,000 small files each
// with a few deleted secrets (so listings are read for their states).
func BenchmarkWarmRescan(b *testing.B) {
	dir, tag := b.TempDir(), "latest"
	if layout := os.Getenv("STRATA_BENCH_LAYOUT"); layout != "" {
		dir, tag, _ = strings.Cut(layout, ":")
	} else {
		var img fixture.Image
		for l := range 8 {
			var files []fixture.File
			for i := range 2000 {
				files = append(files, fixture.File{Path: fmt.Sprintf("srv/l%d/d%d/f%d.txt", l, i%40, i), Body: []byte(fmt.Sprintf("line %d\nvalue=%d\n", i, i*l))})
			}
			files = append(files, fixture.File{Path: fmt.Sprintf("root/.config/gh/l%d.yml", l), Body: []byte("github.com:\n  oauth_token: " + ghp(uint64(l)) + "\n")})
			if l > 0 {
				files = append(files, fixture.File{Path: fmt.Sprintf("root/.config/gh/.wh.l%d.yml", l-1)})
			}
			img.Layers = append(img.Layers, fixture.Layer{CreatedBy: fmt.Sprintf("COPY l%d /", l), Files: files})
		}
		img.Env = []string{"PATH=/usr/bin", "DB_PASSWORD=Xk3Lm9Qp2RsT"}
		fixture.WriteLayout(b, dir, tag, img)
	}
	cdir := b.TempDir()
	cache, err := OpenCache(context.Background(), cdir)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := secret.New(secret.Options{})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	cold, err := Run(context.Background(), []Target{open(b, dir, tag, false)}, Options{Engine: eng, Results: cache})
	cache.Close()
	if err != nil {
		b.Fatal(err)
	}
	coldTime := time.Since(t0)
	b.ResetTimer()
	var res *Result
	for range b.N {
		res = warmRescan(b, dir, tag, filepath.Join(cdir, "scan-cache.db"))
	}
	b.StopTimer()
	if len(res.Findings) != len(cold.Findings) {
		b.Fatalf("warm: %d findings, cold %d", len(res.Findings), len(cold.Findings))
	}
	b.ReportMetric(float64(len(res.Findings)), "findings")
	b.ReportMetric(float64(coldTime.Nanoseconds()), "cold-ns")
}

// buildTreeImage writes an OCI layout at dir with one gzip layer holding the
// files under roots (paths without the leading slash).
func buildTreeImage(b *testing.B, dir string, roots []string) {
	fixture.Init(b, dir)
	tmp, err := os.CreateTemp(dir, "layer-*")
	if err != nil {
		b.Fatal(err)
	}
	hc := sha256.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(tmp, hc), gzip.DefaultCompression)
	hu := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, hu))
	for _, root := range roots {
		asRoot := strings.HasSuffix(root, "=/")
		root = strings.TrimSuffix(root, "=/")
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			name := strings.TrimPrefix(p, "/")
			if asRoot {
				rel, _ := filepath.Rel(root, p)
				if rel == "." {
					return nil
				}
				if d.IsDir() && (rel == "proc" || rel == "sys" || rel == "dev") {
					return filepath.SkipDir
				}
				name = rel
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			link := ""
			if d.Type()&fs.ModeSymlink != 0 {
				link, _ = os.Readlink(p)
			} else if !d.IsDir() && !d.Type().IsRegular() {
				return nil
			}
			hdr, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return nil
			}
			hdr.Name = name
			if d.IsDir() {
				hdr.Name += "/"
			}
			hdr.Uname, hdr.Gname = "", ""
			if !d.Type().IsRegular() {
				return tw.WriteHeader(hdr)
			}
			f, err := os.Open(p)
			if err != nil {
				return nil
			}
			defer f.Close()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			n, err := io.Copy(tw, f)
			if err != nil || n != hdr.Size {
				b.Fatalf("copy %s: %v", p, err)
			}
			return nil
		})
	}
	tw.Close()
	zw.Close()
	st, _ := tmp.Stat()
	tmp.Close()
	sum := func(h hash.Hash) image.Digest { return image.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))) }
	ld := image.Descriptor{MediaType: image.MediaTypeOCILayer, Digest: sum(hc), Size: st.Size()}
	if err := os.Rename(tmp.Name(), fixture.BlobPath(dir, ld.Digest)); err != nil {
		b.Fatal(err)
	}
	created := fixture.Epoch
	cfg, _ := json.Marshal(image.Config{Architecture: "amd64", OS: "linux", Created: &created,
		RootFS:  image.RootFS{Type: "layers", DiffIDs: []image.Digest{sum(hu)}},
		History: []image.History{{Created: &created, CreatedBy: "ADD rootfs /"}}})
	cd := fixture.WriteBlob(b, dir, image.MediaTypeOCIConfig, cfg)
	mb, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cd, Layers: []image.Descriptor{ld}})
	md := fixture.WriteBlob(b, dir, image.MediaTypeOCIManifest, mb)
	fixture.AddRef(b, dir, md, "latest")
}

// genTree writes about size bytes of deterministic files under root: source
// and config text (a few holding secrets) and binaries, in nested
// directories, as a stand-in for a real distribution tree.
func genTree(b *testing.B, root string, size int) {
	words := []string{"config", "value", "server", "the", "error", "name", "path", "return", "func", "data", "key", "token"}
	r := mrand.New(mrand.NewPCG(7, 7))
	var text strings.Builder
	for i, total := 0, 0; total < size; i++ {
		var body []byte
		name := fmt.Sprintf("usr/share/d%d/s%d/f%d.txt", i%37, i%11, i)
		switch {
		case i%5 == 0:
			body = make([]byte, r.IntN(60000))
			copy(body, "\x7fELF\x02\x01")
			for j := 16; j < len(body)/3; j++ {
				body[j] = byte(r.IntN(256))
			}
			name = fmt.Sprintf("usr/bin/b%d", i)
		default:
			text.Reset()
			for text.Len() < r.IntN(8000)+200 {
				fmt.Fprintf(&text, "%s %s = %d\n", words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(100000))
			}
			if i%500 == 1 {
				fmt.Fprintf(&text, "github_token: %s\n", ghp(uint64(i)))
			}
			body = []byte(text.String())
		}
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			b.Fatal(err)
		}
		total += len(body)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
