package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/pgtest"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/secret"
)

var (
	engOnce sync.Once
	eng     *secret.Engine
	engErr  error
)

// defaultEngine is the built-in ruleset, compiled once for every test.
func defaultEngine(t testing.TB) *secret.Engine {
	t.Helper()
	engOnce.Do(func() { eng, engErr = secret.New(secret.Options{}) })
	if engErr != nil {
		t.Fatal(engErr)
	}
	return eng
}

// ghp is a GitHub personal access token of the right shape (fake).
func ghp(seed uint64) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := mrand.New(mrand.NewPCG(seed, 7))
	b := make([]byte, 36)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return "ghp_" + string(b)
}

func fingerprint(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fleetImages are two application images on one base layer, each with a
// secret of its own, and the base with one more.
type fleetImages struct {
	baseSecret, oneSecret, twoSecret string
	base, one, two                   fixture.Image
}

func newFleetImages() fleetImages {
	f := fleetImages{baseSecret: ghp(1), oneSecret: ghp(2), twoSecret: ghp(3)}
	base := fixture.Layer{CreatedBy: "COPY rootfs /", Files: []fixture.File{
		{Path: "etc/os-release", Body: []byte("ID=debian\n")},
		{Path: "root/.git-credentials", Body: []byte("https://ci:" + f.baseSecret + "@github.com\n")},
	}}
	f.base = fixture.Image{Layers: []fixture.Layer{base}}
	f.one = fixture.Image{Layers: []fixture.Layer{base, {CreatedBy: "COPY one /app", Files: []fixture.File{
		{Path: "app/.env", Body: []byte("GITHUB_TOKEN=" + f.oneSecret + "\n")}}}}}
	f.two = fixture.Image{Layers: []fixture.Layer{base, {CreatedBy: "COPY two /app", Files: []fixture.File{
		{Path: "app/.env", Body: []byte("GITHUB_TOKEN=" + f.twoSecret + "\n")}}}}}
	return f
}

// baseKey is the base layer's blob digest, the key of its result.
func baseKey(t testing.TB, img fixture.Image) string {
	return string(fixture.Build(t, img).Layers[0].Digest)
}

// harness is a registry, a findings store and the services under test.
type harness struct {
	t   *testing.T
	ctx context.Context
	reg *registrytest.Registry
	st  *store.Store
	dsn string
	log *slog.Logger
}

// sqliteDSN is a store in a fresh SQLite file.
func sqliteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "strata.db")
}

func newHarness(t *testing.T, dsn string) *harness {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, reg: registrytest.NewEmbedded(t, registrytest.Options{}), dsn: dsn,
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	h.st = h.openStore()
	return h
}

func (h *harness) openStore() *store.Store {
	st, err := store.Open(h.ctx, h.dsn, h.log)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	return st
}

// push writes img as an OCI layout and copies it to repo:tag with skopeo.
func (h *harness) push(reg *registrytest.Registry, repo, tag string, img fixture.Image) {
	h.t.Helper()
	dir := h.t.TempDir()
	fixture.WriteLayout(h.t, dir, tag, img)
	registrytest.PushLayout(h.t, h.ctx, reg, dir, tag, repo+":"+tag)
}

// config is a test service's configuration: two workers polling fast.
func (h *harness) config(e *secret.Engine) Config {
	return Config{Store: h.st, Engine: e, Logger: h.log, Registries: []string{h.reg.Host}, Workers: 2,
		Registry: h.reg.ClientOptions(), PollInterval: 50 * time.Millisecond, StopGrace: 5 * time.Second, MaxAttempts: 5}
}

// start builds and starts a service, stopped by the test's cleanup.
func (h *harness) start(cfg Config) *Service {
	h.t.Helper()
	svc, err := New(h.ctx, cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := svc.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { svc.Stop(context.Background()) })
	return svc
}

// waitFindings waits until the store holds an open finding of each
// fingerprint in each repository named.
func (h *harness) waitFindings(svc *Service, want map[string][]string) {
	h.t.Helper()
	var last string
	for h.ctx.Err() == nil {
		missing := 0
		var b strings.Builder
		for repo, fps := range want {
			for _, fp := range fps {
				rows, err := h.st.Findings(h.ctx, store.Filter{Repository: repo, Fingerprint: fp, Status: store.StatusOpen})
				if err != nil {
					h.t.Fatal(err)
				}
				if len(rows) == 0 {
					missing++
					fmt.Fprintf(&b, "%s %s; ", repo, fp[:15])
				}
			}
		}
		if missing == 0 {
			return
		}
		last = b.String()
		time.Sleep(100 * time.Millisecond)
	}
	stats, _ := svc.QueueStats(context.Background())
	var errs []string
	if res, err := svc.q.JobList(context.Background(), river.NewJobListParams().First(1000).
		States(rivertype.JobStateRetryable, rivertype.JobStateDiscarded, rivertype.JobStateCancelled)); err == nil {
		for _, j := range res.Jobs {
			for _, e := range j.Errors {
				errs = append(errs, j.Kind+": "+e.Error)
			}
		}
	}
	h.t.Fatalf("findings still missing: %s (jobs %v)\n%s", last, stats, strings.Join(errs, "\n"))
}

// jobs lists River's jobs of a kind.
func (h *harness) jobs(svc *Service, kind string) []*rivertype.JobRow {
	h.t.Helper()
	res, err := svc.q.JobList(h.ctx, river.NewJobListParams().Kinds(kind).First(1000))
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Jobs
}

// layerJob is the scan_layer job of the layer keyed key (nil if none).
func (h *harness) layerJob(svc *Service, key string) *rivertype.JobRow {
	h.t.Helper()
	for _, j := range h.jobs(svc, KindScanLayer) {
		var a ScanLayerArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			h.t.Fatal(err)
		}
		if a.Key == key {
			return j
		}
	}
	return nil
}

func describe(j *rivertype.JobRow) string {
	if j == nil {
		return "missing"
	}
	return fmt.Sprintf("%s attempt %d by %v, errors %v", j.State, j.Attempt, j.AttemptedBy, j.Errors)
}

func (h *harness) scanCount(key, ruleset string) int {
	h.t.Helper()
	n, err := h.st.LayerScanCount(h.ctx, key, ruleset)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// sharedBaseScannedOnce: two images pushed on one base, enqueued by hand:
// every secret reaches the store and the base layer is scanned once.
func sharedBaseScannedOnce(t *testing.T, dsn string) {
	h := newHarness(t, dsn)
	imgs := newFleetImages()
	h.push(h.reg, "team/one", "v1", imgs.one)
	h.push(h.reg, "team/two", "v1", imgs.two)
	svc := h.start(h.config(defaultEngine(t)))
	for _, ref := range []string{h.reg.Ref("team/one", ":v1"), h.reg.Ref("team/two", ":v1")} {
		if err := svc.EnqueueRef(h.ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	h.waitFindings(svc, map[string][]string{
		"team/one": {fingerprint(imgs.baseSecret), fingerprint(imgs.oneSecret)},
		"team/two": {fingerprint(imgs.baseSecret), fingerprint(imgs.twoSecret)},
	})
	if n := h.scanCount(baseKey(t, imgs.one), svc.Ruleset()); n != 1 {
		t.Errorf("the shared base layer was scanned %d times, want 1", n)
	}
	rows, err := h.st.Findings(h.ctx, store.Filter{Fingerprint: fingerprint(imgs.twoSecret)})
	if err != nil || len(rows) != 1 || rows[0].Path != "app/.env" && rows[0].Path != "/app/.env" || len(rows[0].Tags) != 1 || rows[0].Tags[0] != "v1" {
		t.Errorf("team/two's finding: %+v %v", rows, err)
	}
	// River marks jobs completed asynchronously (its completer batches
	// the updates), so the findings can be in the store before their jobs
	// count as completed: poll, bounded.
	var stats map[string]int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		stats, err = svc.QueueStats(h.ctx)
		if err != nil || stats["completed"] > 0 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || stats["completed"] == 0 || stats["discarded"] != 0 {
		t.Errorf("queue stats %v %v", stats, err)
	}
}

func TestSharedBaseScannedOnceSQLite(t *testing.T) { sharedBaseScannedOnce(t, sqliteDSN(t)) }

// The same on Postgres (riverpgxv5, LISTEN/NOTIFY), a real server from
// the Debian package.
func TestSharedBaseScannedOncePostgres(t *testing.T) {
	sharedBaseScannedOnce(t, pgtest.Start(t).DSN())
}

// TestMain shares one Postgres server among the package's tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// A scan_layer job whose worker is stopped mid-layer (its context
// cancelled once the stop grace ran out) is released, retried by another
// service and completes; the cancelled attempt stored nothing.
func TestCancelledLayerScanIsRetried(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { cancelledLayerScanIsRetried(t, sqliteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { cancelledLayerScanIsRetried(t, pgtest.Start(t).DSN()) })
}

func cancelledLayerScanIsRetried(t *testing.T, dsn string) {
	h := newHarness(t, dsn)
	imgs := newFleetImages()
	key := string(fixture.Build(t, imgs.one).Layers[1].Digest)
	blocked := make(chan struct{})
	var once sync.Once
	proxy := h.reg.Proxy(t, registrytest.ProxyOptions{OnRequest: func(r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+key) {
			first := false
			once.Do(func() { first = true })
			if first { // hold the first fetch of the layer until its job is cancelled
				close(blocked)
				<-r.Context().Done()
			}
		}
	}})
	h.push(h.reg, "team/one", "v1", imgs.one)
	cfg := h.config(defaultEngine(t))
	cfg.Registry, cfg.Registries, cfg.Workers, cfg.StopGrace = proxy.Registry.ClientOptions(), nil, 1, 200*time.Millisecond
	first, err := New(h.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.EnqueueRef(h.ctx, proxy.Registry.Ref("team/one", ":v1")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-h.ctx.Done():
		t.Fatal("the layer was never fetched")
	}
	start := time.Now()
	if err := first.Stop(h.ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %s with a 200ms grace", d)
	}
	j := h.layerJob(first, key)
	// River releases a job its stop cancelled: available again at once,
	// the attempt not counted.
	if j == nil || j.State != rivertype.JobStateAvailable && j.State != rivertype.JobStateRetryable || len(j.AttemptedBy) != 1 {
		t.Fatalf("after the stop, the layer's job is %s: want it released for a retry", describe(j))
	}
	if n := h.scanCount(key, first.Ruleset()); n != 0 {
		t.Fatalf("the cancelled scan stored a result (%d)", n)
	}
	second := h.start(cfg)
	h.waitFindings(second, map[string][]string{"team/one": {fingerprint(imgs.oneSecret)}})
	// River records a completion asynchronously, just after the result is stored.
	layerJob := h.layerJob(second, key)
	for layerJob != nil && layerJob.State == rivertype.JobStateRunning && h.ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		layerJob = h.layerJob(second, key)
	}
	if layerJob == nil || layerJob.State != rivertype.JobStateCompleted || len(layerJob.AttemptedBy) != 2 || layerJob.AttemptedBy[0] == layerJob.AttemptedBy[1] {
		t.Errorf("the layer's job: %s, want it completed by the second service after the first", describe(layerJob))
	}
	if n := h.scanCount(key, second.Ruleset()); n != 1 {
		t.Errorf("the layer was scanned %d times, want 1", n)
	}
}

// The periodic sweep enumerates the registry: an image pushed after the
// first sweep is found by the next one, with no webhook or request, and a
// deleted image's findings are resolved by the one after.
func TestPeriodicSweepFindsNewTag(t *testing.T) {
	h := newHarness(t, sqliteDSN(t))
	imgs := newFleetImages()
	h.push(h.reg, "team/one", "v1", imgs.one)
	cfg := h.config(defaultEngine(t))
	cfg.Sweep = 2 * time.Second
	svc := h.start(cfg)
	h.waitFindings(svc, map[string][]string{"team/one": {fingerprint(imgs.oneSecret)}})
	h.push(h.reg, "team/one", "v2", imgs.two)
	h.waitFindings(svc, map[string][]string{"team/one": {fingerprint(imgs.twoSecret)}})
	if n := len(h.jobs(svc, KindSweep)); n < 2 {
		t.Errorf("%d sweep jobs, want the one on start and a periodic one", n)
	}
	// A purge of the leaking v1: the next sweep resolves its findings.
	if err := h.reg.Repo(t, h.ctx, "team/one").DeleteManifest(h.ctx, string(fixture.Build(t, imgs.one).Manifest.Digest)); err != nil {
		t.Fatal(err)
	}
	for {
		rows, err := h.st.Findings(h.ctx, store.Filter{Fingerprint: fingerprint(imgs.oneSecret), Status: store.StatusResolved})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 {
			break
		}
		if h.ctx.Err() != nil {
			t.Fatal("v1's finding was not resolved by a sweep after its manifest was deleted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rows, _ := h.st.Findings(h.ctx, store.Filter{Fingerprint: fingerprint(imgs.twoSecret), Status: store.StatusOpen}); len(rows) != 1 {
		t.Errorf("v2's finding: %+v, want it still open", rows)
	}
	if n := h.scanCount(baseKey(t, imgs.one), svc.Ruleset()); n != 1 {
		t.Errorf("the base layer was scanned %d times, want 1", n)
	}
}

// A service started with another ruleset than the store recorded sweeps
// every registry and rescans with the new rules: a pattern added finds
// what the old rules did not.
func TestRulesetChangeRescans(t *testing.T) {
	h := newHarness(t, sqliteDSN(t))
	imgs := newFleetImages()
	flag := "FLAG{fleet-rescan-" + ghp(9)[4:14] + "}"
	imgs.one.Layers = append(imgs.one.Layers, fixture.Layer{CreatedBy: "COPY flag /", Files: []fixture.File{{Path: "srv/flag.txt", Body: []byte(flag + "\n")}}})
	h.push(h.reg, "team/one", "v1", imgs.one)
	old := h.start(h.config(defaultEngine(t))) // a fresh store: no sweep on start
	if err := old.EnqueueRef(h.ctx, h.reg.Ref("team/one", ":v1")); err != nil {
		t.Fatal(err)
	}
	h.waitFindings(old, map[string][]string{"team/one": {fingerprint(imgs.oneSecret)}})
	if err := old.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	if rows, _ := h.st.Findings(h.ctx, store.Filter{Fingerprint: fingerprint(flag)}); len(rows) != 0 {
		t.Fatalf("the default rules found the flag: %+v", rows)
	}
	withFlag, err := secret.New(secret.Options{Patterns: []string{`FLAG\{[^}]+\}`}})
	if err != nil {
		t.Fatal(err)
	}
	if withFlag.RulesetHash() == old.Ruleset() {
		t.Fatal("a new pattern did not change the ruleset hash")
	}
	// A process with no registry to sweep (a bare worker) leaves the
	// change for one that has.
	bare := h.config(withFlag)
	bare.Registries, bare.Workers = nil, 0
	h.start(bare)
	if got, _ := h.st.Ruleset(h.ctx); got != old.Ruleset() {
		t.Fatalf("a process with no registries recorded the new ruleset")
	}
	svc := h.start(h.config(withFlag)) // no periodic sweep: the ruleset change alone rescans
	h.waitFindings(svc, map[string][]string{"team/one": {fingerprint(flag), fingerprint(imgs.oneSecret)}})
	if n := h.scanCount(baseKey(t, imgs.one), withFlag.RulesetHash()); n != 1 {
		t.Errorf("the base layer was scanned %d times with the new rules, want 1", n)
	}
	if got, err := h.st.Ruleset(h.ctx); err != nil || got != withFlag.RulesetHash() {
		t.Errorf("recorded ruleset %q %v, want the new one", got, err)
	}
	var reasons []string
	for _, j := range h.jobs(svc, KindSweep) {
		reasons = append(reasons, string(j.EncodedArgs))
	}
	if !strings.Contains(strings.Join(reasons, " "), `"reason":"ruleset"`) {
		t.Errorf("sweeps %v: none for the ruleset change", reasons)
	}
}

// An attestation that refers to an image through the OCI referrers API (not
// listed in an index) is found by resolving the image: a build argument it
// recorded is a finding of the image.
func TestReferrerAttestationScanned(t *testing.T) {
	h := newHarness(t, sqliteDSN(t))
	proxy := h.reg.Proxy(t, registrytest.ProxyOptions{Referrers: true})
	imgs := newFleetImages()
	h.push(proxy.Registry, "team/one", "v1", imgs.one)
	built := fixture.Build(t, imgs.one)
	token := ghp(11)
	repo := proxy.Registry.Repo(t, h.ctx, "team/one")
	st, err := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.2",
		"subject":   []any{map[string]any{"name": "pkg:docker/team/one", "digest": map[string]string{"sha256": built.Manifest.Digest.Hex()}}},
		"predicate": map[string]any{"invocation": map[string]any{"parameters": map[string]any{"args": map[string]string{"build-arg:GH_TOKEN": token}}}}})
	if err != nil {
		t.Fatal(err)
	}
	ld := registrytest.PushBlob(t, h.ctx, repo, image.MediaTypeInToto, st)
	cfg, _ := json.Marshal(image.Config{Architecture: "unknown", OS: "unknown", RootFS: image.RootFS{Type: "layers", DiffIDs: []image.Digest{ld.Digest}}})
	cd := registrytest.PushBlob(t, h.ctx, repo, image.MediaTypeOCIConfig, cfg)
	subject := built.Manifest
	mb, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cd, Layers: []image.Descriptor{ld}, Subject: &subject})
	att := registrytest.PushManifest(t, h.ctx, repo, "", image.MediaTypeOCIManifest, mb)

	cfgSvc := h.config(defaultEngine(t))
	cfgSvc.Registry, cfgSvc.Registries = proxy.Registry.ClientOptions(), nil
	svc := h.start(cfgSvc)
	if err := svc.EnqueueRef(h.ctx, proxy.Registry.Ref("team/one", ":v1")); err != nil {
		t.Fatal(err)
	}
	h.waitFindings(svc, map[string][]string{"team/one": {fingerprint(token), fingerprint(imgs.oneSecret)}})
	rows, err := h.st.Findings(h.ctx, store.Filter{Fingerprint: fingerprint(token)})
	if err != nil || len(rows) != 1 || rows[0].Manifest != built.Manifest.Digest || !strings.Contains(rows[0].Path, string(ld.Digest)) {
		t.Errorf("the attestation's finding (attestation %s): %+v %v", att.Digest, rows, err)
	}
}
