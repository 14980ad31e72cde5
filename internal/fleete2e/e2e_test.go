package fleete2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/fleet"
	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fleettest"
	"github.com/stratascan/strata/internal/pgtest"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/internal/testtool"
	"github.com/stratascan/strata/secret"
)

// Bounds of the end-to-end waits. They are generous for a loaded shared
// machine; the test logs the times it measured.
const (
	// pushToStore bounds the time from a push (skopeo exited) to the
	// planted secret being in the store.
	pushToStore = 60 * time.Second
	// allScanned bounds the time from the last push to every image being
	// recorded.
	allScanned = 150 * time.Second
	// rescued bounds the time from killing the worker that held a job to
	// that job's result being in the store (River's leader election and
	// rescuer run included).
	rescued = 120 * time.Second
	// swept bounds the time from enqueueing a sweep to a purged tag's
	// findings being resolved.
	swept = 60 * time.Second
)

var (
	buildOnce sync.Once
	strataBin string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	printScale()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// strata returns the strata binary, built on first use (once per run).
func strata(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "strata-e2e-bin-")
		if buildErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			strataBin, buildErr = fleettest.BuildStrata(ctx, binDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return strataBin
}

// cluster is one fleet deployment under test: a registry that notifies
// strata's webhook, strata processes sharing one database, and the test's
// own handle on that database.
type cluster struct {
	t   *testing.T
	ctx context.Context

	reg    *registrytest.Registry
	fleet  *fleettest.Fleet
	layout string
	env    []string
	// dsn is given to strata processes with --db; "" lets them use their
	// default SQLite file (under the XDG_DATA_HOME of env).
	dsn      string
	listen   string // strata serve's address
	hook     string // webhook secret
	hookFile string // file holding it, for --webhook-secret-file
	token    string // API token
	st       *store.Store
	eng      *secret.Engine
}

func randomHex(t testing.TB) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newCluster starts the Debian registry (TLS, htpasswd, notifications to
// strata serve's webhook on a free loopback port), writes the E2E fleet's
// layout, and opens the store at dsn ("" = the processes' default SQLite
// file) to create the API token before any strata process starts.
func newCluster(t *testing.T, dsn string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("the fleet end-to-end test takes about a minute; it runs without -short")
	}
	// Missing tools fail the test in CI (CI set to a true value).
	testtool.Require(t, "docker-registry")
	testtool.Require(t, "skopeo")
	strata(t) // build first: a build failure is not a registry's
	root := t.TempDir()
	c := &cluster{t: t, ctx: context.Background(), dsn: dsn, listen: freeAddr(t), hook: randomHex(t)}
	c.reg = registrytest.StartDebian(t, registrytest.Options{TLS: true, Auth: true, Notify: []registrytest.Endpoint{{
		URL: "http://" + c.listen + "/hook", Headers: http.Header{"Authorization": {"Bearer " + c.hook}},
		Timeout: 2 * time.Second, Threshold: 3, Backoff: time.Second, IgnoreActions: []string{"pull"},
	}}})
	c.env = fleettest.Env(root, fleettest.DockerConfig(t, filepath.Join(root, "docker"), c.reg))
	c.hookFile = filepath.Join(root, "webhook-secret")
	if err := os.WriteFile(c.hookFile, []byte(c.hook+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	storeDSN := dsn
	if dsn == "" {
		storeDSN = filepath.Join(root, "data", "strata", "strata.db") // $XDG_DATA_HOME/strata/strata.db
	}
	st, err := store.Open(c.ctx, storeDSN, nil)
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	c.st = st
	tok, created, err := st.EnsureToken(c.ctx)
	if err != nil || !created {
		t.Fatalf("EnsureToken: created %v, %v", created, err)
	}
	c.token = tok
	if c.eng, err = secret.New(secret.Options{}); err != nil {
		t.Fatal(err)
	}
	c.fleet = fleettest.Generate(t, fleettest.E2E)
	c.layout = filepath.Join(root, "layout")
	c.fleet.WriteLayout(t, c.layout)
	return c
}

// common are the flags every strata process of the cluster shares: the
// database, the registry to sweep with its CA (credentials come from
// DOCKER_CONFIG), an hourly sweep (the test enqueues the one it needs),
// and short job timeouts so that River rescues the job of a killed worker
// within seconds.
func (c *cluster) common() []string {
	a := []string{"--ca-file", c.reg.CAFile, "--registry", c.reg.Host, "--sweep", "1h",
		"--job-timeout", "6s", "--rescue-after", "8s"}
	if c.dsn != "" {
		a = append(a, "--db", c.dsn)
	}
	return a
}

// serve starts `strata serve` with workers job slots (0: API and webhook
// only) and waits for /readyz.
func (c *cluster) serve(name string, workers int) *fleettest.Proc {
	c.t.Helper()
	args := append([]string{"serve", "--listen", c.listen, "--workers", strconv.Itoa(workers), "--webhook-secret-file", c.hookFile}, c.common()...)
	p := fleettest.Start(c.t, name, strata(c.t), c.env, args...)
	c.waitReady(p)
	return p
}

// worker starts `strata worker` with two job slots.
func (c *cluster) worker(name string) *fleettest.Proc {
	c.t.Helper()
	args := append([]string{"worker", "--workers", "2"}, c.common()...)
	return fleettest.Start(c.t, name, strata(c.t), c.env, args...)
}

func (c *cluster) waitReady(p *fleettest.Proc) {
	c.t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := p.Exited(); ok {
			c.t.Fatalf("%s exited while starting: %v", p.Name, err)
		}
		resp, err := hc.Get("http://" + c.listen + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: /readyz not 200 within 60s", p.Name)
}

// api GETs path from strata serve with the token (or none) and returns the
// status and body.
func (c *cluster) api(path string, withToken bool) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, "http://"+c.listen+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if withToken {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, body
}

// openFindings returns the open findings of fingerprint fp in the store.
func (c *cluster) findings(fp string) []store.FindingRow {
	c.t.Helper()
	rows, err := c.st.Findings(c.ctx, store.Filter{Fingerprint: fp, Limit: store.MaxLimit})
	if err != nil {
		c.t.Fatalf("store findings of %s: %v", fp, err)
	}
	return rows
}

// holds reports whether rows has an open finding of im (repository and
// tag) from registry host.
func holds(rows []store.FindingRow, host string, im fleettest.Image) bool {
	for _, r := range rows {
		if r.Open() && r.Registry == host && r.Repository == im.Repo && r.Manifest == im.Built.Manifest.Digest {
			return true
		}
	}
	return false
}

// pushAndFind pushes the fleet's images with skopeo while watching the
// store, and checks that each planted secret was in the store within
// pushToStore of its image's push. It returns the slowest push-to-store
// time.
func (c *cluster) pushAndFind() time.Duration {
	c.t.Helper()
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	seen := make([]time.Time, len(c.fleet.Secrets))
	var watchErr error
	watched := make(chan struct{})
	go func() { // no t calls here: errors are reported after the pushes
		defer close(watched)
		for ctx.Err() == nil {
			left := 0
			for i, s := range c.fleet.Secrets {
				if !seen[i].IsZero() {
					continue
				}
				rows, err := c.st.Findings(ctx, store.Filter{Fingerprint: s.Fingerprint, Limit: store.MaxLimit})
				if err != nil {
					if ctx.Err() == nil {
						watchErr = err
					}
					return
				}
				if holds(rows, c.reg.Host, c.fleet.Images[s.Image]) {
					seen[i] = time.Now()
				} else {
					left++
				}
			}
			if left == 0 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	pushed := fleettest.PushSkopeo(c.t, c.ctx, c.reg, c.layout, c.fleet.Images, 4)
	select {
	case <-watched:
	case <-time.After(pushToStore):
		cancel()
		<-watched
	}
	if watchErr != nil {
		c.t.Fatalf("store findings: %v", watchErr)
	}
	var slowest time.Duration
	for i, s := range c.fleet.Secrets {
		im := c.fleet.Images[s.Image]
		if seen[i].IsZero() {
			c.t.Fatalf("the %s planted in %s:%s is not in the store %s after its push", s.Rule, im.Repo, im.Tag, pushToStore)
		}
		d := seen[i].Sub(pushed[s.Image])
		c.t.Logf("%s in %s:%s: in the store %s after its push", s.Rule, im.Repo, im.Tag, d.Round(100*time.Millisecond))
		if d > pushToStore {
			c.t.Fatalf("the %s planted in %s:%s reached the store %s after its push (bound %s)", s.Rule, im.Repo, im.Tag, d, pushToStore)
		}
		slowest = max(slowest, d)
	}
	return slowest
}

// waitRecorded waits until every image of ims is recorded in the store.
func (c *cluster) waitRecorded(ims []fleettest.Image, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for _, im := range ims {
		for {
			_, err := c.st.Image(c.ctx, c.reg.Host, im.Repo, im.Built.Manifest.Digest)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s:%s (%s) not recorded in the store within %s: %v", im.Repo, im.Tag, im.Built.Manifest.Digest, within, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// scannedOnce checks that each layer was scanned exactly once under the
// ruleset the strata processes recorded in the store (the test's own
// engine may hash differently: a test binary links other build
// information).
func (c *cluster) scannedOnce(layers []image.Digest) {
	c.t.Helper()
	ruleset, err := c.st.Ruleset(c.ctx)
	if err != nil || ruleset == "" {
		c.t.Fatalf("store ruleset %q: %v", ruleset, err)
	}
	for _, d := range layers {
		n, err := c.st.LayerScanCount(c.ctx, string(d), ruleset)
		if err != nil || n != 1 {
			c.t.Errorf("layer %s scanned %d times (%v), want exactly once", d, n, err)
		}
	}
	if c.t.Failed() {
		c.t.FailNow()
	}
}

// checkAPI asks the JSON API for a planted secret's findings with and
// without the token.
func (c *cluster) checkAPI(s fleettest.Secret) {
	c.t.Helper()
	path := "/api/v1/findings?fingerprint=" + s.Fingerprint
	if code, _ := c.api(path, false); code != http.StatusUnauthorized {
		c.t.Fatalf("GET %s without the token: %d, want 401", path, code)
	}
	code, body := c.api(path, true)
	if code != http.StatusOK || !bytes.Contains(body, []byte(s.Fingerprint)) || bytes.Contains(body, []byte(s.Value)) {
		c.t.Fatalf("GET %s: %d, fingerprint listed %v, secret value leaked %v:\n%.2000s", path, code,
			bytes.Contains(body, []byte(s.Fingerprint)), bytes.Contains(body, []byte(s.Value)), body)
	}
}

// slowJob pushes the fleet's slow image, waits until a worker runs the
// scan of its big layer, then calls during (start another worker, kill
// the one holding the job); it waits for the image's secret in the store
// and checks that the job was attempted again and the layer stored once.
func (c *cluster) slowJob(during func()) {
	c.t.Helper()
	im, s := c.fleet.Slow(c.t, "slow/app", "v1", 16)
	fleettest.WriteImage(c.t, c.layout, im)
	big := im.Built.Layers[len(im.Built.Layers)-1].Digest
	jobs := newJobs(c.t, c.st)
	fleettest.PushSkopeo(c.t, c.ctx, c.reg, c.layout, []fleettest.Image{im}, 1)
	deadline := time.Now().Add(pushToStore)
	for {
		if row := jobs.find(c.ctx, "strata_scan_layer", string(big), true); row != nil {
			c.t.Logf("scan_layer job %d of the %d MiB layer running (attempt %d, by %v): killing its worker", row.ID, 16, row.Attempt, row.AttemptedBy)
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no running scan_layer job for layer %s within %s of its push", big, pushToStore)
		}
		time.Sleep(10 * time.Millisecond)
	}
	killed := time.Now()
	during()
	for !holds(c.findings(s.Fingerprint), c.reg.Host, im) {
		if time.Since(killed) > rescued {
			c.t.Fatalf("the slow image's secret is not in the store %s after its worker was killed", rescued)
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.t.Logf("killed worker's job done by another %s after the kill", time.Since(killed).Round(time.Millisecond))
	row := jobs.find(c.ctx, "strata_scan_layer", string(big), false)
	by := map[string]bool{}
	if row != nil {
		for _, id := range row.AttemptedBy {
			by[id] = true
		}
	}
	if row == nil || row.Attempt < 2 || len(by) < 2 {
		c.t.Fatalf("scan_layer job of %s: %+v, want a job attempted at least twice by two workers (killed, then rescued)", big, row)
	}
	c.scannedOnce([]image.Digest{big})
	for _, j := range jobs.lost(c.ctx) {
		c.t.Errorf("job %d (%s) %s after %d attempts: %v", j.ID, j.Kind, j.State, j.Attempt, j.Errors)
	}
	if c.t.Failed() {
		c.t.FailNow()
	}
}

// purgeAndSweep purges the tag of the fleet's first planted secret with
// strata purge, enqueues a sweep, and waits until that secret's findings
// are resolved while the other secrets stay open.
func (c *cluster) purgeAndSweep() {
	c.t.Helper()
	s := c.fleet.Secrets[0]
	im := c.fleet.Images[s.Image]
	cmd := exec.CommandContext(c.ctx, strata(c.t), "purge", "--yes", "--ca-file", c.reg.CAFile, im.Ref(c.reg.Host))
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("strata purge --yes %s: %v\n%s", im.Ref(c.reg.Host), err, out)
	}
	svc, err := fleet.New(c.ctx, fleet.Config{Store: c.st, Engine: c.eng, Registries: []string{c.reg.Host}})
	if err != nil {
		c.t.Fatalf("insert-only fleet service: %v", err)
	}
	at := time.Now()
	if err := svc.EnqueueSweep(c.ctx); err != nil {
		c.t.Fatalf("EnqueueSweep: %v", err)
	}
	for {
		rows := c.findings(s.Fingerprint)
		resolved := len(rows) > 0
		for _, r := range rows {
			resolved = resolved && !r.Open()
		}
		if resolved {
			break
		}
		if time.Since(at) > swept {
			c.t.Fatalf("findings of the purged %s still open %s after a sweep was enqueued: %+v", im.Ref(c.reg.Host), swept, rows)
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.t.Logf("purged tag's findings resolved %s after the sweep was enqueued", time.Since(at).Round(time.Millisecond))
	for _, o := range c.fleet.Secrets[1:] {
		if !holds(c.findings(o.Fingerprint), c.reg.Host, c.fleet.Images[o.Image]) {
			c.t.Fatalf("the %s of %s:%s was resolved by the sweep though its tag stays", o.Rule, c.fleet.Images[o.Image].Repo, c.fleet.Images[o.Image].Tag)
		}
	}
}

// run is the scenario both databases share, after the processes started:
// push the fleet, find every secret in time, every layer scanned once,
// the API answering, then before(), the slow job and kill() while a worker
// holds it, and the purge.
func (c *cluster) run(before, kill func()) {
	c.t.Helper()
	start := time.Now()
	slowest := c.pushAndFind()
	c.t.Logf("%d images pushed; slowest push-to-store of the %d secrets %s", len(c.fleet.Images), len(c.fleet.Secrets), slowest.Round(time.Millisecond))
	c.waitRecorded(c.fleet.Images, allScanned)
	c.t.Logf("all %d images recorded %s after the first push", len(c.fleet.Images), time.Since(start).Round(time.Millisecond))
	c.scannedOnce(c.fleet.LayerDigests())
	c.checkAPI(c.fleet.Secrets[1])
	before()
	c.slowJob(kill)
	c.purgeAndSweep()
}

// TestFleetPostgres: Postgres, one `strata serve` (API and webhook, no job
// slots) and two `strata worker` processes.
func TestFleetPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	c := newCluster(t, pg.DSN())
	c.serve("serve", 0)
	a := c.worker("worker-a")
	b := c.worker("worker-b")
	c.run(func() {
		// Worker B stops gracefully (SIGTERM: jobs in flight finish or are
		// released), so the slow job can only go to worker A...
		if err := b.Stop(30 * time.Second); err != nil {
			t.Fatalf("worker-b did not stop cleanly on SIGTERM: %v", err)
		}
	}, func() {
		// ...which is killed while it runs it; a new worker B takes over.
		c.worker("worker-b2")
		a.Kill()
	})
}

// TestFleetSQLite: the embedded default (SQLite under the data directory),
// one `strata serve` process doing everything; the kill is of that process,
// and its restart rescues the job.
func TestFleetSQLite(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	p := c.serve("serve", 2)
	c.run(func() {}, func() {
		p.Kill()
		p = c.serve("serve-restarted", 2)
	})
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("serve did not stop cleanly on SIGTERM: %v", err)
	}
}
