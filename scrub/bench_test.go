package scrub_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/ocidir"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/scrub"
)

// benchImage writes an OCI layout of about mb MiB uncompressed in layers
// gzip layers (text and incompressible files), with /app/.env in the
// middle layer, and returns its directory.
func benchImage(b *testing.B, mb, layers int) string {
	dir := filepath.Join(b.TempDir(), "bench")
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the quick brown fox jumps over lazy dog config value server port host name user token path file data index layer image")
	var descs []image.Descriptor
	var diffIDs []image.Digest
	per := int64(mb) << 20 / int64(layers)
	for li := 0; li < layers; li++ {
		f, err := os.CreateTemp(b.TempDir(), "layer")
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
		tw := tar.NewWriter(io.MultiWriter(zw, h))
		var n int64
		for i := 0; n < per; i++ {
			var body []byte
			if i%5 == 0 {
				body = make([]byte, 64<<10)
				for j := range body {
					body[j] = byte(r.Uint32())
				}
			} else {
				var sb strings.Builder
				for sb.Len() < 32<<10 {
					sb.WriteString(words[r.IntN(len(words))])
					sb.WriteByte(" \n"[r.IntN(2)])
				}
				body = []byte(sb.String())
			}
			name := fmt.Sprintf("l%d/d%d/f%d", li, i%50, i)
			if li == layers/2 && i == 3 {
				name, body = "app/.env", []byte("TOKEN=ghp_R8mK2vX9qL4tZ7wN1pB6cY3hJ5gF0aD8sEeQ\n")
			}
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1e9, 0), Typeflag: tar.TypeReg})
			tw.Write(body)
			n += int64(len(body))
		}
		tw.Close()
		zw.Close()
		f.Seek(0, io.SeekStart)
		raw, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		d, err := ocidir.PutBlob(dir, image.MediaTypeOCILayerGzip, raw)
		if err != nil {
			b.Fatal(err)
		}
		descs = append(descs, d)
		diffIDs = append(diffIDs, image.FromSum(h.Sum(nil)))
	}
	cfg := image.Config{OS: "linux", Architecture: "amd64", RootFS: image.RootFS{Type: "layers", DiffIDs: diffIDs}}
	if _, err := ocidir.WriteImage(dir, "latest", cfg, descs); err != nil {
		b.Fatal(err)
	}
	return dir
}

// cost is wall and CPU time (user+system of the whole process: every
// goroutine, the garbage collector too).
type cost struct{ wall, cpu time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measure(f func()) cost {
	w, c := time.Now(), cpuNow()
	f()
	return cost{time.Since(w), cpuNow() - c}
}

func (c *cost) add(d cost) { c.wall += d.wall; c.cpu += d.cpu }

// readOnce gunzips and sha256es blobs once (both streams), the floor any
// reader pays.
func readOnce(b *testing.B, paths []string) cost {
	return measure(func() {
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			zr, err := gzip.NewReader(io.TeeReader(f, sha256.New()))
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, zr); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// BenchmarkScrub removes one file from a multi-layer image (default 64 MiB
// in 8 layers; STRATA_BENCH_MB and STRATA_BENCH_LAYERS change it) and
// reports the scrub (plan: listing, rewrite, verification; no rescan)
// against reading the rewritten layer once and every layer once, in wall
// and CPU time (CPU time is the fairer figure on a loaded machine). cold:
// no scan cache, every layer is listed by one walk; warm: a scan of the
// image filled the cache first, so only the rewritten layer is read.
func BenchmarkScrub(b *testing.B) {
	mb, layers := envInt("STRATA_BENCH_MB", 64), envInt("STRATA_BENCH_LAYERS", 8)
	dir := benchImage(b, mb, layers)
	// A large image on a loaded machine outlasts testCtx's three minutes.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	src := open(b, ctx, "oci:"+dir+":latest")
	im := single(b, src.root)
	var all []string
	for _, l := range im.Layers {
		all = append(all, filepath.Join(dir, "blobs", "sha256", l.Descriptor.Digest.Hex()))
	}
	cache, err := scan.OpenCache(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	if _, err := scan.Run(ctx, []scan.Target{{Ref: "bench", Store: src.store, Root: src.root, Images: []*image.Image{im}}},
		scan.Options{Engine: engine(b), Results: cache.Results()}); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			opts := scrub.Options{Selectors: scrub.Selectors{Paths: []string{"/app/.env"}}}
			if mode == "warm" {
				opts.Cache = cache
			}
			var scrubC, rewrittenC, allC cost
			for i := 0; i < b.N; i++ {
				opts.WorkDir = b.TempDir()
				var p *scrub.Plan
				scrubC.add(measure(func() {
					var err error
					if p, err = scrub.NewPlan(ctx, src.store, src.root, opts); err != nil {
						b.Fatal(err)
					}
				}))
				var rewritten []string
				for _, lp := range p.Images[0].Layers {
					if lp.Action == scrub.ActionRewritten {
						rewritten = append(rewritten, all[lp.Index])
					}
				}
				if len(rewritten) != 1 {
					b.Fatalf("%d layers rewritten, want 1", len(rewritten))
				}
				p.Close()
				rewrittenC.add(readOnce(b, rewritten))
				allC.add(readOnce(b, all))
			}
			n := time.Duration(b.N)
			b.ReportMetric((scrubC.wall / n).Seconds(), "scrub-s")
			b.ReportMetric((scrubC.cpu / n).Seconds(), "scrub-cpu-s")
			b.ReportMetric((rewrittenC.cpu / n).Seconds(), "read-rewritten-cpu-s")
			b.ReportMetric((allC.cpu / n).Seconds(), "read-all-cpu-s")
			b.ReportMetric(float64(scrubC.wall)/float64(rewrittenC.wall), "x-rewritten")
			b.ReportMetric(float64(scrubC.cpu)/float64(rewrittenC.cpu), "x-rewritten-cpu")
			b.ReportMetric(float64(scrubC.wall)/float64(allC.wall), "x-all")
			b.ReportMetric(float64(scrubC.cpu)/float64(allC.cpu), "x-all-cpu")
		})
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
