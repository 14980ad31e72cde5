package provenance_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/registry"
)

// countingRT counts requests by kind: manifest GETs, blob GETs, others
// (ping, token).
type countingRT struct {
	base                    http.RoundTripper
	manifests, blobs, other atomic.Int64
}

func (c *countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case strings.Contains(req.URL.Path, "/manifests/"):
		c.manifests.Add(1)
	case strings.Contains(req.URL.Path, "/blobs/"):
		c.blobs.Add(1)
	default:
		c.other.Add(1)
	}
	return c.base.RoundTrip(req)
}

const (
	benchBases = 50
	benchApps  = 1000
	benchRepos = 10
)

// BenchmarkCheck checks 1,000 application images (10 repositories) against
// 50 approved bases on an embedded distribution v3 registry with a fresh
// client per iteration, and reports requests per image (manifest, config
// blob, and other requests such as the per-repository ping) and images per
// second.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	reg := registrytest.NewEmbedded(b, registrytest.Options{})
	setup := reg.Client(b)
	push := func(repo, tag string, layers []fixture.Blob, diffIDs []image.Digest) {
		r, err := setup.Repo(ctx, reg.Host+"/"+repo)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range layers {
			if err := r.PutBlob(ctx, l.Digest, int64(len(l.Bytes)), strings.NewReader(string(l.Bytes))); err != nil {
				b.Fatal(err)
			}
		}
		created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		cfg := fmt.Sprintf(`{"architecture":"amd64","os":"linux","created":%q,"rootfs":{"type":"layers","diff_ids":%s}}`,
			created.Format(time.RFC3339), jsonDigests(diffIDs))
		cd := image.Descriptor{MediaType: image.MediaTypeOCIConfig, Digest: image.FromBytes([]byte(cfg)), Size: int64(len(cfg))}
		if err := r.PutBlob(ctx, cd.Digest, cd.Size, strings.NewReader(cfg)); err != nil {
			b.Fatal(err)
		}
		var ls []string
		for _, l := range layers {
			ls = append(ls, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, l.MediaType, l.Digest, len(l.Bytes)))
		}
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[%s]}`,
			image.MediaTypeOCIManifest, cd.MediaType, cd.Digest, cd.Size, strings.Join(ls, ","))
		if _, err := r.PutManifest(ctx, tag, image.MediaTypeOCIManifest, []byte(m)); err != nil {
			b.Fatal(err)
		}
	}
	blob := func(name string) fixture.Blob {
		return fixture.LayerBlob(b, fixture.Layer{Files: []fixture.File{{Path: name, Body: []byte(name)}}}, false)
	}

	// Bases: base-i = [os-i, runtime-i]; pushed and recorded.
	st, err := provenance.Open(ctx, filepath.Join(b.TempDir(), "bases.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	baseLayers := make([][]fixture.Blob, benchBases)
	for i := range benchBases {
		ls := []fixture.Blob{blob(fmt.Sprint("os-", i)), blob(fmt.Sprint("runtime-", i))}
		baseLayers[i] = ls
		diff := []image.Digest{ls[0].DiffID, ls[1].DiffID}
		push("base", fmt.Sprint("v", i), ls, diff)
		bb, err := provenance.NewBase(fmt.Sprint("base-", i), provenance.Image{Reference: reg.Ref("base", fmt.Sprint(":v", i)),
			Digest: image.FromBytes([]byte(fmt.Sprint("base", i))), Platform: "linux/amd64", DiffIDs: diff}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Add(ctx, bb); err != nil {
			b.Fatal(err)
		}
	}
	ix, err := st.Index(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// Apps: app-(i%10):i = base-(i%50) + one layer of its own.
	var refs []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range benchApps {
		repo, tag := fmt.Sprint("app-", i%benchRepos), fmt.Sprint("t", i)
		refs = append(refs, reg.Ref(repo, ":"+tag))
		g.Go(func() error {
			_ = gctx
			own := blob(fmt.Sprint("app-", i))
			bl := baseLayers[i%benchBases]
			push(repo, tag, []fixture.Blob{bl[0], bl[1], own}, []image.Digest{bl[0].DiffID, bl[1].DiffID, own.DiffID})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}

	b.Run("1000apps-50bases", func(b *testing.B) {
		var total, manifests, blobs, other int64
		var elapsed time.Duration
		for b.Loop() {
			rt := &countingRT{base: http.DefaultTransport.(*http.Transport).Clone()}
			opts := reg.ClientOptions()
			opts.Transport = rt
			c, err := registry.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			rs, err := provenance.CheckAll(ctx, refs, opener(c), ix, provenance.CheckOptions{Concurrency: 8})
			elapsed += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rs {
				if r.Status != provenance.StatusOK || r.BaseLayers != 2 || r.AppLayers != 1 {
					b.Fatalf("%s: %+v", r.Reference, r)
				}
			}
			total += int64(len(rs))
			manifests += rt.manifests.Load()
			blobs += rt.blobs.Load()
			other += rt.other.Load()
		}
		n := float64(total)
		b.ReportMetric(float64(manifests+blobs+other)/n, "requests/image")
		b.ReportMetric(float64(manifests)/n, "manifest-GETs/image")
		b.ReportMetric(float64(blobs)/n, "blob-GETs/image")
		b.ReportMetric(n/elapsed.Seconds(), "images/s")
	})
}

func jsonDigests(ds []image.Digest) string {
	var q []string
	for _, d := range ds {
		q = append(q, fmt.Sprintf("%q", d))
	}
	return "[" + strings.Join(q, ",") + "]"
}
