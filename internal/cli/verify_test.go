package cli

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stratascan/strata/verify"
)

// verifyFake answers GitHub's /user and Stripe's /v1/account for the
// sample's token and key, live or not, counting every request.
type verifyFake struct {
	srv      *httptest.Server
	live     atomic.Bool
	requests atomic.Int64
}

func newVerifyFake(t *testing.T) *verifyFake {
	f := &verifyFake{}
	f.live.Store(true)
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		u, _, _ := r.BasicAuth()
		switch {
		case r.URL.Path == "/user" && r.Header.Get("Authorization") == "Bearer "+sampleSecrets[2] && f.live.Load():
			io.WriteString(w, `{"login":"sample-bot"}`)
		case r.URL.Path == "/v1/account" && u == sampleSecrets[0] && f.live.Load():
			io.WriteString(w, `{"id":"acct_test"}`)
		default:
			http.Error(w, "{}", http.StatusUnauthorized)
		}
	}))
	t.Cleanup(f.srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	testVerifyOptions = func(o *verify.Options) {
		o.TestEndpoints = map[string]string{"github": f.srv.URL, "stripe": f.srv.URL}
		o.TestRoots = pool
	}
	t.Cleanup(func() { testVerifyOptions = nil })
	return f
}

func TestScanVerify(t *testing.T) {
	isolate(t)
	f := newVerifyFake(t)
	out, errs, code := run(t, "", "scan", "--no-cache", "--verify", "--format", "json", sample)
	if code != ExitFindings {
		t.Fatalf("scan --verify: exit %d: %s", code, errs)
	}
	for _, s := range sampleSecrets {
		if strings.Contains(out, s) || strings.Contains(errs, s) {
			t.Fatalf("--verify output reveals %q", s)
		}
	}
	var res struct {
		Findings []struct {
			Rule         string         `json:"rule"`
			Secret       string         `json:"secret"`
			Verification *verify.Result `json:"verification"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	want := map[string]verify.Status{"github-pat": verify.Active, "stripe-access-token": verify.Active,
		"aws-secret-access-key": verify.Unknown, "database-uri-password": verify.Unknown, "private-key": verify.Unknown}
	for _, fd := range res.Findings {
		if fd.Verification == nil || fd.Verification.Status != want[fd.Rule] {
			t.Errorf("%s: verification %+v, want %s", fd.Rule, fd.Verification, want[fd.Rule])
		}
	}
	if n := f.requests.Load(); n != 2 {
		t.Errorf("%d requests reached the providers, want 2 (GitHub and Stripe, once each)", n)
	}
	// The table puts active findings first and says so.
	out, _, _ = run(t, "", "scan", "--no-cache", "--verify", sample)
	if !strings.Contains(out, "ACTIVE CRITICAL") || !strings.Contains(out, "verified ACTIVE (login=sample-bot") {
		t.Errorf("table does not mark the active findings:\n%s", out)
	}

	// --fail-on active: exit 1 while a secret is live, 0 once revoked.
	if _, errs, code := run(t, "", "scan", "--no-cache", "--verify", "--fail-on", "active", sample); code != ExitFindings {
		t.Errorf("--fail-on active with live secrets: exit %d (%s)", code, errs)
	}
	f.live.Store(false)
	if _, errs, code := run(t, "", "scan", "--no-cache", "--verify", "--fail-on", "active", sample); code != ExitOK {
		t.Errorf("--fail-on active with revoked secrets: exit %d (%s)", code, errs)
	}
	if _, _, code := run(t, "", "scan", "--no-cache", "--fail-on", "active", sample); code != ExitError {
		t.Errorf("--fail-on active without --verify: exit %d, want 2", code)
	}
}

// TestScanVerifySendsNothingUnasked: without --verify, with --verify=plan,
// and with verify set in the config file, no request leaves.
func TestScanVerifySendsNothingUnasked(t *testing.T) {
	home := isolate(t)
	f := newVerifyFake(t)
	if _, errs, code := run(t, "", "scan", "--no-cache", sample); code != ExitFindings {
		t.Fatalf("scan: exit %d: %s", code, errs)
	}
	out, errs, code := run(t, "", "scan", "--no-cache", "--verify=plan", sample)
	if code != ExitOK || !strings.Contains(out, "nothing sent") || !strings.Contains(out, "github-pat") {
		t.Fatalf("--verify=plan: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "127.0.0.1") {
		t.Errorf("plan does not name the host it would contact:\n%s", out)
	}
	cfg := filepath.Join(home, "xdg_config_home", "strata", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("verify: \"on\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ = run(t, "", "scan", "--no-cache", "--format", "json", sample)
	if strings.Contains(out, `"verification"`) {
		t.Error("a config file turned verification on")
	}
	if n := f.requests.Load(); n != 0 {
		t.Fatalf("%d requests left without --verify", n)
	}
	t.Setenv("STRATA_VERIFY", "1")
	out, _, _ = run(t, "", "scan", "--no-cache", "--format", "json", sample)
	if !strings.Contains(out, `"verification"`) || f.requests.Load() == 0 {
		t.Error("STRATA_VERIFY=1 did not turn verification on")
	}
}
