package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stratascan/strata/fleet/web"
)

// TestFindingsFilters: each filter of GET /api/v1/findings selects the
// seeded findings it should; bad values answer 400.
func TestFindingsFilters(t *testing.T) { forEachDialect(t, testFindingsFilters) }

func testFindingsFilters(t *testing.T, f *fixture) {
	f.seed(t)
	auth := "Bearer " + f.token
	fpA := fingerprint(secretA)
	cases := []struct {
		query string
		code  int
		want  int // findings
	}{
		{"", 200, 5},
		{"registry=" + testRegistry, 200, 5},
		{"registry=elsewhere.example", 200, 0},
		{"repository=team/app", 200, 3},
		{"repository=team/app&status=open", 200, 3},
		{"rule=github-pat", 200, 3},
		{"severity=medium", 200, 1},
		{"severity=HIGH", 200, 3},
		{"state=deleted", 200, 1},
		{"fingerprint=" + fpA, 200, 3},
		{"fingerprint=" + strings.TrimPrefix(fpA, "sha256:"), 200, 3},
		{"status=open", 200, 4},
		{"status=resolved", 200, 1},
		{"status=resolved&repository=team/old", 200, 1},
		{"limit=2", 200, 2},
		{"limit=2&offset=4", 200, 1},
		{"status=gone", 400, 0},
		{"severity=urgent", 400, 0},
		{"state=hidden", 400, 0},
		{"fingerprint=abc", 400, 0},
		{"limit=-1", 400, 0},
		{"limit=5000", 400, 0},
		{"offset=x", 400, 0},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			code, _, body := f.do(t, "GET", "/api/v1/findings?"+c.query, auth, nil, nil)
			if code != c.code {
				t.Fatalf("status %d, want %d: %s", code, c.code, body)
			}
			if code != 200 {
				return
			}
			page := decode[struct{ Findings []web.Finding }](t, body)
			if len(page.Findings) != c.want {
				t.Errorf("%d findings, want %d", len(page.Findings), c.want)
			}
			q, _ := url.ParseQuery(c.query)
			for _, fd := range page.Findings {
				if len(fd.Remediation) < 2 || !strings.HasPrefix(fd.Remediation[len(fd.Remediation)-1], "strata purge "+testRegistry+"/") {
					t.Errorf("finding %s %s: remediation %q", fd.Repository, fd.Path, fd.Remediation)
				}
				if r := q.Get("repository"); r != "" && fd.Repository != r {
					t.Errorf("repository %q in a %q query", fd.Repository, r)
				}
				if s := q.Get("status"); s == "resolved" && fd.ResolvedAt == nil || s == "open" && fd.ResolvedAt != nil {
					t.Errorf("status %s, resolvedAt %v", s, fd.ResolvedAt)
				}
			}
			assertNoSecrets(t, "findings JSON", body)
		})
	}
}

// TestImageFingerprintStatus: one image's answer has its layers (build
// args masked) and findings with commands; a fingerprint's lists every
// image holding it; the status joins the queue and the store.
func TestImageFingerprintStatus(t *testing.T) { forEachDialect(t, testImageFingerprintStatus) }

func testImageFingerprintStatus(t *testing.T, f *fixture) {
	f.seed(t)
	auth := "Bearer " + f.token
	code, _, body := f.do(t, "GET", f.imageURL("/api/v1/images", "app1", "team/app"), auth, nil, nil)
	if code != 200 {
		t.Fatalf("image: %d %s", code, body)
	}
	im := decode[struct {
		Tags     []string
		Layers   []struct{ CreatedBy string }
		Findings []web.Finding
	}](t, body)
	if len(im.Layers) != 3 || len(im.Findings) != 2 || strings.Join(im.Tags, ",") != "1.0" {
		t.Errorf("image: %d layers, %d findings, tags %v; want 3, 2, [1.0]", len(im.Layers), len(im.Findings), im.Tags)
	}
	wantCmds := map[string]string{
		"/app/.env":  "strata scrub " + testRegistry + "/team/app:1.0 --path /app/.env --replace",
		"config:env": "strata scrub " + testRegistry + "/team/app:1.0 --findings findings.json --fingerprint " + fingerprint(secretB) + " --replace",
	}
	for _, fd := range im.Findings {
		path := fd.Path
		if fd.Layer != nil {
			path = "/" + path
		}
		if w := wantCmds[path]; !strings.Contains(strings.Join(fd.Remediation, "\n"), w) {
			t.Errorf("%s: remediation %q, want a line %q", path, fd.Remediation, w)
		}
	}
	assertNoSecrets(t, "image JSON", body)
	for _, p := range []string{"/api/v1/images/" + testRegistry + "/team/app", "/api/v1/images/" + testRegistry + "/team/app@sha256:12"} {
		if code, _, body := f.do(t, "GET", p, auth, nil, nil); code != 400 {
			t.Errorf("%s: %d, want 400: %s", p, code, body)
		}
	}

	code, _, body = f.do(t, "GET", "/api/v1/fingerprints/"+fingerprint(secretA), auth, nil, nil)
	fp := decode[struct{ Findings []web.Finding }](t, body)
	images := map[string]bool{}
	for _, fd := range fp.Findings {
		images[fd.Repository+"@"+string(fd.Manifest)] = true
	}
	if code != 200 || len(images) != 3 {
		t.Errorf("fingerprint: %d, %d images, want 3: %v", code, len(images), images)
	}

	code, _, body = f.do(t, "GET", "/api/v1/status", auth, nil, nil)
	st := decode[struct {
		Queue          map[string]int
		OpenBySeverity map[string]int
		Resolved       int
	}](t, body)
	if code != 200 || st.Queue["available"] != 2 || st.OpenBySeverity["high"] != 3 || st.Resolved != 1 {
		t.Errorf("status %d: %s", code, body)
	}
}

// TestMetrics: /metrics serves the fleet-wide values read at scrape time
// and the histograms workers observe through Metrics.
func TestMetrics(t *testing.T) { forEachDialect(t, testMetrics) }

func testMetrics(t *testing.T, f *fixture) {
	f.seed(t)
	f.metrics.ObserveScan("scan_layer", 1500*1e6)
	f.metrics.LayerScanned(4096)
	code, h, body := f.do(t, "GET", "/metrics", "Bearer "+f.token, nil, nil)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", code, h.Get("Content-Type"))
	}
	for _, want := range []string{
		`strata_jobs{state="available"} 2`,
		`strata_jobs{state="running"} 1`,
		`strata_findings{severity="high"} 3`,
		`strata_findings{severity="medium"} 1`,
		`strata_scan_duration_seconds_bucket{phase="scan_layer",le="2.5"} 1`,
		`strata_scan_duration_seconds_count{phase="scan_layer"} 1`,
		`strata_worker_layers_scanned_total 1`,
		`strata_worker_bytes_read_total 4096`,
		`strata_store_up 1`,
		"strata_layers_scanned ",
		"strata_bytes_read ",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "strata_jobs" && len(mf.GetMetric()) != 3 {
			t.Errorf("strata_jobs: %d series, want 3 (one per state)", len(mf.GetMetric()))
		}
	}
	f.queue.fail(http.ErrServerClosed)
	if _, _, body := f.do(t, "GET", "/metrics", "Bearer "+f.token, nil, nil); !strings.Contains(body, "strata_store_up 0") {
		t.Errorf("a failing queue does not show as strata_store_up 0")
	}
}

// TestMetricsOwnRegistry: without a Registerer the handler serves a
// registry of its own, with the process's memory and the Go runtime.
func TestMetricsOwnRegistry(t *testing.T) {
	f := newFixture(t)
	h, err := web.NewHandler(web.Config{Store: f.store, Queue: f.queue})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, want := range []string{"process_resident_memory_bytes ", "go_goroutines ", "strata_store_up 1", "strata_worker_layers_scanned_total 0"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%d: metrics lack %q", rec.Code, want)
		}
	}
	if _, err := web.NewHandler(web.Config{Store: f.store}); err == nil {
		t.Error("a handler without a queue was accepted")
	}
}
