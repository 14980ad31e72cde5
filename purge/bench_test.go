package purge_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/registry"
)

// countRT counts HTTP requests.
type countRT struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// BenchmarkPurgeOneOf1000Tags purges one leaked tag from a repository of
// 1,000 tags (50 images sharing base layers, tags listed in pages of 100)
// on embedded distribution v3: inventory, plan, apply and verify. It reports
// the requests each phase made and the wall time.
func BenchmarkPurgeOneOf1000Tags(b *testing.B) {
	ctx := context.Background()
	reg := registrytest.NewEmbedded(b, registrytest.Options{})
	rt := &countRT{base: http.DefaultTransport.(*http.Transport).Clone()}
	opts := reg.ClientOptions()
	opts.Transport = rt
	opts.TagPageSize = 100
	client, err := registry.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	name := reg.Host + "/bench/app"
	repo, err := client.Repo(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	var imgs []image.Descriptor
	for i := 0; i < 50; i++ {
		bl := fixture.Build(b, fixture.Image{Layers: layers(fixture.Layer{Files: []fixture.File{{Path: "app", Body: []byte(fmt.Sprint("app ", i))}}})})
		imgs = append(imgs, pushBuilt(b, ctx, repo, bl, ""))
	}
	raws := map[image.Digest][]byte{}
	for _, d := range imgs {
		_, raw, err := repo.GetManifest(ctx, string(d.Digest))
		if err != nil {
			b.Fatal(err)
		}
		raws[d.Digest] = raw
	}
	for i := 0; i < 999; i++ {
		d := imgs[i%len(imgs)]
		registrytest.PushManifest(b, ctx, repo, fmt.Sprintf("v%04d", i), d.MediaType, raws[d.Digest])
	}
	var inventory, planned, applied, verified int64
	var wall, invWall, verWall time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		leak := fixture.Build(b, fixture.Image{Layers: layers(fixture.Layer{Files: []fixture.File{{Path: "secret", Body: []byte(fmt.Sprint("token ", i))}}})})
		pushBuilt(b, ctx, repo, leak, "leak")
		start := time.Now()
		rt.n.Store(0)
		b.StartTimer()

		inv, err := purge.Take(ctx, repo, name, purge.InventoryOptions{})
		if err != nil {
			b.Fatal(err)
		}
		inventory += rt.n.Load()
		invWall += time.Since(start)
		p, err := purge.NewPlan(inv, purge.Options{Targets: []string{"leak"}})
		if err != nil || p.Refused() {
			b.Fatal(err, p.Refusals)
		}
		planned += rt.n.Load()
		res, err := purge.Apply(ctx, repo, p, purge.ApplyOptions{Settle: quietSettle})
		if err != nil {
			b.Fatal(err)
		}
		applied += rt.n.Load()
		vstart := time.Now()
		rep, err := purge.Verify(ctx, repo, p, res, purge.VerifyOptions{})
		verWall += time.Since(vstart)
		if err != nil || rep.Verdict != purge.VerdictClean {
			b.Fatal(err, rep.Problems)
		}
		verified += rt.n.Load()
		wall += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(inventory)/n, "inventory-requests/op")
	b.ReportMetric(float64(applied-planned)/n, "apply-requests/op")
	b.ReportMetric(float64(verified-applied)/n, "verify-requests/op")
	b.ReportMetric(float64(verified)/n, "requests/op")
	b.ReportMetric(wall.Seconds()/n, "wall-s/op")
	b.ReportMetric(invWall.Seconds()/n, "inventory-s/op")
	b.ReportMetric(verWall.Seconds()/n, "verify-s/op")
}
