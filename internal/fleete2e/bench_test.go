package fleete2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/fleet"
	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/internal/fleettest"
	"github.com/stratascan/strata/internal/pgtest"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/secret"
)

// scaleRow is one measurement of BenchmarkFleetScale.
type scaleRow struct {
	db             string
	workers, slots int
	images         int
	seconds        float64
	layerScans     int64
	uniqueLayers   int
	peakRSS        []int64 // bytes, per worker process
}

var (
	scaleMu   sync.Mutex
	scaleRows []scaleRow
)

// printScale prints the table of every BenchmarkFleetScale run (TestMain
// calls it after the benchmarks).
func printScale() {
	scaleMu.Lock()
	defer scaleMu.Unlock()
	if len(scaleRows) == 0 {
		return
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nfleet scale: %d images, %d CPU cores (runtime.NumCPU), load average %s", scaleRows[0].images, runtime.NumCPU(), load)
	fmt.Printf("%-9s %7s %5s %8s %9s %12s %13s %14s\n", "database", "workers", "slots", "seconds", "images/s", "layers scanned", "unique layers", "peak RSS/worker")
	for _, r := range scaleRows {
		var maxRSS int64
		for _, v := range r.peakRSS {
			maxRSS = max(maxRSS, v)
		}
		fmt.Printf("%-9s %7d %5d %8.1f %9.1f %12d %13d %12d MiB\n", r.db, r.workers, r.slots, r.seconds, float64(r.images)/r.seconds,
			r.layerScans, r.uniqueLayers, maxRSS>>20)
	}
}

// BenchmarkFleetScale measures the fleet on the Scale fleet (1,000 images
// in 200 repositories on 20 bases) in the embedded registry: for SQLite and
// Postgres and 1, 2 and 4 `strata worker` processes (each with
// STRATA_BENCH_SLOTS job slots, default 2), the time from enqueueing a
// sweep to every image recorded, the layers actually scanned (which must
// equal the distinct layer digests) and each worker's peak RSS. Run it
// with -benchtime=1x; one iteration is a whole sweep on a fresh database.
// STRATA_BENCH_IMAGES scales the fleet (see below).
//
//	go test -run '^$' -bench FleetScale -benchtime 1x -timeout 60m ./internal/fleete2e
func BenchmarkFleetScale(b *testing.B) {
	ctx := context.Background()
	slots := 2
	if v, err := strconv.Atoi(os.Getenv("STRATA_BENCH_SLOTS")); err == nil && v > 0 {
		slots = v
	}
	spec := fleettest.Scale
	// STRATA_BENCH_IMAGES=N scales the fleet down (or up) keeping its
	// shape: N images, N/5 repositories, N/50 bases, N/50 secrets.
	if n, err := strconv.Atoi(os.Getenv("STRATA_BENCH_IMAGES")); err == nil && n >= 5 {
		spec = fleettest.Spec{Images: n, Repos: n / 5, Bases: max(1, n/50), Secrets: max(1, n/50)}
	}
	bin := strata(b)
	reg := registrytest.NewEmbedded(b, registrytest.Options{})
	f := fleettest.Generate(b, spec)
	pushStart := time.Now()
	f.PushAPI(b, ctx, reg, 4)
	b.Logf("pushed %d images in %d repositories in %s", len(f.Images), len(f.Repos()), time.Since(pushStart).Round(time.Millisecond))
	eng, err := secret.New(secret.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, db := range []string{store.SQLite, store.Postgres} {
		for _, workers := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", db, workers), func(b *testing.B) {
				for range b.N {
					row := scaleOnce(b, ctx, bin, reg, f, eng, db, workers, slots)
					b.ReportMetric(float64(row.images)/row.seconds, "images/s")
					scaleMu.Lock()
					scaleRows = append(scaleRows, row)
					scaleMu.Unlock()
				}
			})
		}
	}
}

// scaleOnce runs one sweep of the whole registry on a fresh database with
// workers worker processes and measures it.
func scaleOnce(b *testing.B, ctx context.Context, bin string, reg *registrytest.Registry, f *fleettest.Fleet, eng *secret.Engine,
	db string, workers, slots int) scaleRow {
	b.Helper()
	b.StopTimer()
	root := b.TempDir()
	dsn := filepath.Join(root, "strata.db")
	if db == store.Postgres {
		dsn = pgtest.Start(b).DSN()
	}
	st, err := store.Open(ctx, dsn, nil)
	if err != nil {
		b.Fatalf("open the store: %v", err)
	}
	defer st.Close()
	env := fleettest.Env(root, "")
	svc, err := fleet.New(ctx, fleet.Config{Store: st, Engine: eng, Registries: []string{reg.Host}})
	if err != nil {
		b.Fatalf("insert-only fleet service: %v", err)
	}
	// The clock starts before the worker processes: their start-up is part
	// of the sweep's time (each also enqueues a sweep on start, which
	// River's uniqueness merges with the one below while it is pending).
	b.StartTimer()
	start := time.Now()
	var procs []*fleettest.Proc
	for w := range workers {
		procs = append(procs, fleettest.Start(b, fmt.Sprintf("worker-%d", w), bin, env, "worker", "--insecure", "--db", dsn,
			"--registry", reg.Host, "--workers", strconv.Itoa(slots)))
	}
	if err := svc.EnqueueSweep(ctx); err != nil {
		b.Fatalf("EnqueueSweep: %v", err)
	}
	var stats *store.Stats
	for {
		if stats, err = st.Stats(ctx); err != nil {
			b.Fatalf("store stats: %v", err)
		}
		if stats.Images >= int64(len(f.Images)) {
			break
		}
		for _, p := range procs {
			if ok, err := p.Exited(); ok {
				b.Fatalf("%s exited: %v", p.Name, err)
			}
		}
		if time.Since(start) > 30*time.Minute {
			b.Fatalf("%d of %d images recorded after 30 minutes", stats.Images, len(f.Images))
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	row := scaleRow{db: db, workers: workers, slots: slots, images: len(f.Images), seconds: elapsed.Seconds(),
		layerScans: stats.LayerScans, uniqueLayers: len(f.LayerDigests())}
	for _, p := range procs {
		if err := p.Stop(time.Minute); err != nil {
			b.Errorf("%s: %v", p.Name, err)
		}
		row.peakRSS = append(row.peakRSS, p.PeakRSS())
	}
	if row.layerScans != int64(row.uniqueLayers) {
		b.Errorf("%d layer scans for %d distinct layers: a layer was scanned more than once, or missed", row.layerScans, row.uniqueLayers)
	}
	return row
}
