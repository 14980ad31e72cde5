package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/fleet/web"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/pgtest"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/scan"
)

const (
	testRegistry = "registry.test:5000"
	hookSecret   = "hook-secret-for-tests"
)

// Planted secret values: recorded with the findings (Finding.Secret set,
// as a scan with KeepSecrets would), they must never come back out.
var (
	secretA = "ghp_" + strings.Repeat("A1b2C3d4", 4) + "wXyZ"
	secretB = "sk_live_" + strings.Repeat("9f8e7d6c", 3)
	secretC = "AKIA" + "QWERTYUIOPASDFGH"
	secrets = []string{secretA, secretB, secretC}
)

func fingerprint(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

// clock is the handler's adjustable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// fixture is a handler over a real SQLite store, served on loopback.
type fixture struct {
	store   *store.Store
	queue   *recordingQueue
	clock   *clock
	reg     *prometheus.Registry
	metrics *web.Metrics
	srv     *httptest.Server
	token   string
	images  map[string]image.Digest // by name: app1, app2, api, old
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// dialects are the stores the tests that read findings run on.
var dialects = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "strata.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.Start(t).DSN() }},
}

// forEachDialect runs fn on a fixture over each store.
func forEachDialect(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) { fn(t, newFixtureWith(t, d.dsn(t), nil)) })
	}
}

// newFixture serves a handler over a SQLite store.
func newFixture(t *testing.T) *fixture { return newFixtureWith(t, dialects[0].dsn(t), nil) }

// newFixtureWith serves the handler over the store at dsn, through wrap
// when it is not nil.
func newFixtureWith(t *testing.T, dsn string, wrap func(http.Handler) http.Handler, opts ...func(*web.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tok, created, err := st.EnsureToken(ctx)
	if err != nil || !created {
		t.Fatalf("EnsureToken: %q %v %v", tok, created, err)
	}
	f := &fixture{store: st, queue: &recordingQueue{stats: map[string]int{"available": 2, "running": 1, "completed": 7}},
		clock: &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}, reg: prometheus.NewRegistry(), token: tok,
		images: map[string]image.Digest{}}
	f.metrics, err = web.NewMetrics(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{Store: st, Queue: f.queue, WebhookSecret: hookSecret, Registerer: f.reg, Metrics: f.metrics, Now: f.clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := web.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		h = wrap(h)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func digestOf(s string) image.Digest { return image.FromBytes([]byte(s)) }

func intp(i int) *int { return &i }

// seed records four images in three repositories: secretA in team/app:1.0
// (deleted by a later layer), team/app:2.0 and team/api:latest; secretB
// in team/app:1.0's config; secretC in team/old:v1, whose tag is then
// removed (resolved this week). team/app:2.0 was first seen a month ago.
func (f *fixture) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	now := f.clock.Now()
	base := store.LayerRef{Index: 0, Digest: digestOf("base"), DiffID: digestOf("base-diff"), Size: 2 << 20,
		CreatedBy: "/bin/sh -c #(nop) ADD file:0123 in / "}
	leak := store.LayerRef{Index: 1, Digest: digestOf("leak"), DiffID: digestOf("leak-diff"), Size: 4096,
		CreatedBy: "|1 GITHUB_TOKEN=" + secretA + " /bin/sh -c cp /src/.env /app/.env"}
	rm := store.LayerRef{Index: 2, Digest: digestOf("rm"), DiffID: digestOf("rm-diff"), Size: 512,
		CreatedBy: "/bin/sh -c rm /app/.env"}
	finding := func(rule, sev, path string, layer *int, state overlay.State, hidden *int, secret string) scan.Finding {
		f := scan.Finding{Rule: rule, Severity: sev, Layer: layer, Path: path, State: state, HiddenBy: hidden,
			Redacted: secret[:4] + "…", Fingerprint: fingerprint(secret), Secret: secret, Confidence: "format"}
		if layer != nil {
			f.LayerDigest = []image.Digest{base.Digest, leak.Digest, rm.Digest}[*layer]
		}
		return f
	}
	recs := []struct {
		name, repo, tag string
		layers          []store.LayerRef
		findings        []scan.Finding
		at              time.Time
	}{
		{"app2", "team/app", "2.0", []store.LayerRef{base, leak}, []scan.Finding{
			finding("github-pat", "high", "app/.env", intp(1), overlay.Present, nil, secretA)}, now.Add(-30 * 24 * time.Hour)},
		{"old", "team/old", "v1", []store.LayerRef{base, leak}, []scan.Finding{
			finding("aws-access-key", "critical", "root/.aws/credentials", intp(1), overlay.Present, nil, secretC)}, now.Add(-20 * 24 * time.Hour)},
		{"app1", "team/app", "1.0", []store.LayerRef{base, leak, rm}, []scan.Finding{
			finding("github-pat", "high", "app/.env", intp(1), overlay.Deleted, intp(2), secretA),
			finding("stripe-key", "medium", "config:env", nil, overlay.Present, nil, secretB)}, now.Add(-24 * time.Hour)},
		{"api", "team/api", "latest", []store.LayerRef{base, leak}, []scan.Finding{
			finding("github-pat", "high", "etc/creds", intp(1), overlay.Present, nil, secretA)}, now.Add(-2 * 24 * time.Hour)},
	}
	for _, r := range recs {
		d := digestOf("manifest " + r.name)
		f.images[r.name] = d
		rec := store.ImageRecord{Registry: testRegistry, Repository: r.repo, Tags: []string{r.tag}, Manifest: d,
			Platform: "linux/amd64", Layers: r.layers, Ruleset: "rules-1"}
		if err := f.store.RecordImage(ctx, rec, r.findings, r.at); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.SyncTags(ctx, testRegistry, "team/old", map[string]image.Digest{}, now.Add(-2*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// imageURL is the path of an image's page or API route under prefix.
func (f *fixture) imageURL(prefix, name, repo string) string {
	return prefix + "/" + testRegistry + "/" + repo + "@" + string(f.images[name])
}

// do sends a request with the given Authorization header ("" for none)
// and returns the status, the headers and the body.
func (f *fixture) do(t *testing.T, method, path, auth string, body io.Reader, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

var noRedirect = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// login posts the token to /login and returns the session cookie.
func (f *fixture) login(t *testing.T, token string) (int, *http.Cookie) {
	t.Helper()
	code, hdr, _ := f.do(t, http.MethodPost, "/login", "", strings.NewReader(url.Values{"token": {token}, "next": {"/"}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	resp := http.Response{Header: hdr}
	for _, c := range resp.Cookies() {
		if c.Name == "strata_session" {
			return code, c
		}
	}
	return code, nil
}

func assertNoSecrets(t *testing.T, where, body string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("%s holds the secret value %s…", where, s[:6])
		}
	}
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}
