package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/internal/testtool"
)

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServe runs strata serve with args until the returned stop is
// called (as SIGINT would: its context is cancelled); it returns the base
// URL and what serve wrote on stderr so far.
func startServe(t *testing.T, args ...string) (base string, stderr *testtool.Buffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &testtool.Buffer{}
	root := NewRoot(strings.NewReader(""), io.Discard, stderr)
	root.SetArgs(append([]string{"serve", "--listen", "127.0.0.1:0", "--sweep", "0", "--workers", "1"}, args...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not listen in 30s:\n%s", stderr)
		}
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop within 20s of its context ending")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return base, stderr, stop
}

// pushSample copies the shipped sample image to reg as dest (repo:tag)
// with skopeo and returns the sample layout's absolute path.
func pushSample(t *testing.T, reg *registrytest.Registry, dest string) string {
	t.Helper()
	abs, err := filepath.Abs("../../examples/leaky-app")
	if err != nil {
		t.Fatal(err)
	}
	registrytest.PushLayout(t, context.Background(), reg, abs, "latest", dest)
	return abs
}

var tokenLine = regexp.MustCompile(`API token \(shown once[^)]*\): (\S+)`)

// get fetches base+path with the bearer token (none if "") and returns the
// status and body.
func get(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// TestServeScansARegistry runs strata serve on a SQLite file beside an
// embedded registry holding the sample image: it prints the API token on
// its first start only, refuses the API without it, scans a reference
// posted to /api/v1/scan into findings the API serves (no secret value
// in them), counts the work in /metrics, and stops cleanly (exit 0) when
// its context ends, as on SIGINT.
func TestServeScansARegistry(t *testing.T) {
	isolate(t)
	reg := registrytest.NewEmbedded(t, registrytest.Options{})
	abs := pushSample(t, reg, "acme/leaky:1")
	db := filepath.Join(t.TempDir(), "fleet.db")
	base, stderr, stop := startServe(t, "--db", db, "--insecure", "--registry", reg.Host)
	m := tokenLine.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("first start printed no token:\n%s", stderr)
	}
	token := m[1]
	if code, body := get(t, "GET", base+"/healthz", "", ""); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := get(t, "GET", base+"/api/v1/findings", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/api/v1/findings without the token: %d, want 401", code)
	}
	if code, body := get(t, "POST", base+"/api/v1/scan", token, `{"ref": "`+reg.Ref("acme/leaky", ":1")+`"}`); code != http.StatusAccepted {
		t.Fatalf("POST /api/v1/scan: %d %s", code, body)
	}
	body := waitFindings(t, base, token, "acme/leaky", 5, stderr)
	out, errs, _ := run(t, "", "scan", "--no-cache", "--show-secrets", "-o", "json", "oci:"+abs)
	var sample struct {
		Findings []struct {
			Secret string `json:"secret"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &sample); err != nil || len(sample.Findings) != 5 {
		t.Fatalf("scan --show-secrets of the sample: %v %s", err, errs)
	}
	for _, f := range sample.Findings {
		if f.Secret == "" || strings.Contains(body, f.Secret) || strings.Contains(body, strings.ReplaceAll(f.Secret, "\n", `\n`)) {
			t.Errorf("the API shows a secret value (or the scan none): %.12q...", f.Secret)
		}
	}
	if _, metrics := get(t, "GET", base+"/metrics", token, ""); !strings.Contains(metrics, `strata_scan_duration_seconds_count{phase="scan_layer"}`) {
		t.Errorf("/metrics has no scan_layer latency:\n%.2000s", metrics)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, stderr)
	}
	_, stderr, stop = startServe(t, "--db", db, "--insecure")
	if strings.Contains(stderr.String(), "API token") {
		t.Errorf("second start printed a token again:\n%s", stderr)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// waitFindings polls the findings API of repo until it lists n open ones.
func waitFindings(t *testing.T, base, token, repo string, n int, stderr *testtool.Buffer) string {
	t.Helper()
	for deadline := time.Now().Add(40 * time.Second); ; {
		code, body := get(t, "GET", base+"/api/v1/findings?status=open&repository="+repo, token, "")
		if code != http.StatusOK {
			t.Fatalf("findings: %d %s", code, body)
		}
		if strings.Count(body, `"fingerprint"`) >= n {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d findings of %s did not reach the API in 40s: %s\n%s", n, repo, body, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestServeWebhookPush: a registry whose notifications post to serve's
// /hook with the webhook secret gets a pushed image scanned with no sweep
// and no request.
func TestServeWebhookPush(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte("s3cret-for-hooks\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stderr, _ := startServe(t, "--db", filepath.Join(dir, "fleet.db"), "--insecure", "--webhook-secret-file", secretFile)
	token := tokenLine.FindStringSubmatch(stderr.String())[1]
	reg := registrytest.NewEmbedded(t, registrytest.Options{Notify: []registrytest.Endpoint{{URL: base + "/hook",
		Headers: http.Header{"Authorization": {"Bearer s3cret-for-hooks"}}}}})
	pushSample(t, reg, "acme/pushed:1")
	waitFindings(t, base, token, "acme/pushed", 5, stderr)
}

// TestServeAndWorker: strata serve with --workers 0 only takes requests;
// a strata worker on the same store works them, and stops cleanly.
func TestServeAndWorker(t *testing.T) {
	isolate(t)
	reg := registrytest.NewEmbedded(t, registrytest.Options{})
	pushSample(t, reg, "acme/split:1")
	db := filepath.Join(t.TempDir(), "fleet.db")
	base, stderr, _ := startServe(t, "--db", db, "--workers", "0")
	token := tokenLine.FindStringSubmatch(stderr.String())[1]
	if code, body := get(t, "POST", base+"/api/v1/scan", token, `{"ref": "`+reg.Ref("acme/split", ":1")+`"}`); code != http.StatusAccepted {
		t.Fatalf("POST /api/v1/scan: %d %s", code, body)
	}
	time.Sleep(500 * time.Millisecond)
	if code, body := get(t, "GET", base+"/api/v1/findings?repository=acme/split", token, ""); code != http.StatusOK || strings.Contains(body, `"fingerprint"`) {
		t.Fatalf("serve --workers 0 worked the job itself: %d %s", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wout := &testtool.Buffer{}
	root := NewRoot(strings.NewReader(""), io.Discard, wout)
	root.SetArgs([]string{"worker", "--db", db, "--insecure", "--sweep", "0", "--listen", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker: %v\n%s", err, wout)
			}
		case <-time.After(20 * time.Second):
			t.Error("worker did not stop within 20s of its context ending")
		}
	}()
	waitFindings(t, base, token, "acme/split", 5, wout)
	if !strings.Contains(wout.String(), "strata worker: working jobs") {
		t.Errorf("worker said: %s", wout)
	}
	// The worker's own /metrics: behind the token, with what this process
	// scanned and its memory.
	m := workerMetrics.FindStringSubmatch(wout.String())
	if m == nil {
		t.Fatalf("worker did not say where its metrics are: %s", wout)
	}
	if code, _ := get(t, "GET", m[1], "", ""); code != http.StatusUnauthorized {
		t.Errorf("worker /metrics without the token: %d, want 401", code)
	}
	code, body := get(t, "GET", m[1], token, "")
	if code != http.StatusOK {
		t.Fatalf("worker /metrics: %d %s", code, body)
	}
	for _, want := range []string{"strata_worker_layers_scanned_total ", "process_resident_memory_bytes ", `strata_scan_duration_seconds_count{phase="scan_layer"} `} {
		if !strings.Contains(body, want) {
			t.Errorf("worker /metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "strata_worker_layers_scanned_total 0\n") {
		t.Errorf("worker /metrics counts no scanned layer after scanning the image")
	}
}

var workerMetrics = regexp.MustCompile(`metrics on (http://\S+/metrics)`)

func TestFleetCommandErrors(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "fleet.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--db", db, "--webhook-secret-file", empty}, "is empty"},
		{[]string{"serve", "--db", db, "--webhook-secret-file", filepath.Join(dir, "missing")}, "--webhook-secret-file"},
		{[]string{"serve", "--db", db, "--workers", "-1"}, "--workers -1"},
		{[]string{"serve", "--db", db, "--job-timeout", "1h", "--rescue-after", "30m"}, "--rescue-after"},
		{[]string{"worker", "--db", db, "--workers", "0"}, "at least one"},
		{[]string{"worker", "--db", db, "--registry", "reg.example/app:1"}, "host[:port]"},
		{[]string{"serve", "extra"}, "unknown command"},
	} {
		_, errs, code := run(t, "", c.args...)
		if code != ExitError || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying %q", c.args, code, errs, c.want)
		}
	}
}
