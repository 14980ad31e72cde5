package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/scan"
)

// The sample's four planted secrets, by where they sit.
var sampleSecrets = []string{
	"sk_live_51Mq8ZtKd9vR2xW7pL3nB6cY4hJ0gF5aT",
	"Zt9qW3eR7tY1uI5oP8aS2dF6gH0jK4lX9cV3bN7m",
	"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",
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
	"hunter2-not-real",
}

func TestScanSample(t *testing.T) {
	cache := t.TempDir()
	out, errs, code := run(t, "", "scan", "--cache-dir", cache, "--format", "json", sample)
	if code != ExitFindings {
		t.Fatalf("exit %d (want 1: findings): %s", code, errs)
	}
	var res scan.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	type want struct {
		path, state string
		layer       int // -1 config
		hiddenBy    int
	}
	got := map[want]bool{}
	for _, f := range res.Findings {
		w := want{path: f.Path, state: string(f.State), layer: -1, hiddenBy: -1}
		if f.Layer != nil {
			w.layer = *f.Layer
		}
		if f.HiddenBy != nil {
			w.hiddenBy = *f.HiddenBy
		}
		got[w] = true
		if !strings.HasPrefix(f.Fingerprint, "sha256:") || f.Secret != "" {
			t.Errorf("finding %s: fingerprint %q, secret %q", f.Path, f.Fingerprint, f.Secret)
		}
		// the ENV's GitHub token is minted with a valid CRC32: reported at
		// the rule's severity, as a format match, saying so.
		if f.Rule == "github-pat" && (f.Severity != "critical" || f.Confidence != "format" || f.Validation != "github-crc32: valid") {
			t.Errorf("github-pat: severity %q, confidence %q, validation %q; want critical, format, github-crc32: valid", f.Severity, f.Confidence, f.Validation)
		}
	}
	for _, w := range []want{
		{"/app/.env", "deleted", 1, 2},
		{"/app/.ssh/id_ed25519", "deleted", 1, 3},
		{"config:env", "present", -1, -1},
		{"config:history[3]", "present", -1, -1},
	} {
		if !got[w] {
			t.Errorf("missing finding %+v; got %+v", w, got)
		}
	}
	for _, s := range sampleSecrets {
		if strings.Contains(out, s) {
			t.Errorf("JSON output reveals a secret value %q", s)
		}
	}
	golden(t, "scan.json", out)

	// Secrets only with --show-secrets; a warm cache gives the same result.
	out2, _, _ := run(t, "", "scan", "--cache-dir", cache, "--format", "json", "--show-secrets", sample)
	if !strings.Contains(out2, sampleSecrets[0]) {
		t.Error("--show-secrets did not reveal the secret")
	}
	out3, _, _ := run(t, "", "scan", "--cache-dir", cache, "--format", "json", sample)
	var res3 scan.Result
	json.Unmarshal([]byte(out3), &res3)
	if len(res3.Findings) != len(res.Findings) || res3.Coverage.LayersFromCache == 0 {
		t.Errorf("warm rescan: %d findings (want %d), %d layers from cache", len(res3.Findings), len(res.Findings), res3.Coverage.LayersFromCache)
	}
}

func TestScanTableAndSARIF(t *testing.T) {
	out, _, code := run(t, "", "scan", "--no-cache", sample)
	if code != ExitFindings || !strings.Contains(out, "DELETED by layer 2, still recoverable") || !strings.Contains(out, "Coverage:") {
		t.Fatalf("table (exit %d):\n%s", code, out)
	}
	for _, s := range sampleSecrets {
		if strings.Contains(out, s) {
			t.Errorf("table reveals %q", s)
		}
	}
	golden(t, "scan.txt", out)
	out, _, _ = run(t, "", "scan", "--no-cache", "--format", "sarif", sample)
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
				Properties          struct {
					Confidence string `json:"confidence"`
				} `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "strata" || len(log.Runs[0].Results) != 5 {
		t.Fatalf("sarif: %+v", log)
	}
	rules := log.Runs[0].Tool.Driver.Rules
	for _, r := range log.Runs[0].Results {
		if r.Properties.Confidence != "format" && r.Properties.Confidence != "keyword" {
			t.Errorf("result %s: confidence %q", r.RuleID, r.Properties.Confidence)
		}
		if r.RuleIndex >= len(rules) || rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %d", r.RuleID, r.RuleIndex)
		}
		if len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" || r.PartialFingerprints["secretFingerprint/v1"] == "" || r.Level == "" {
			t.Errorf("incomplete result %+v", r)
			continue
		}
		// artifactLocation.uri is a relative reference (SARIF 2.1.0 3.4.3):
		// it parses, has no scheme, and is not absolute.
		uri := r.Locations[0].PhysicalLocation.ArtifactLocation.URI
		if u, err := url.Parse(uri); err != nil || u.Scheme != "" || strings.HasPrefix(uri, "/") || strings.ContainsAny(uri, "[]") {
			t.Errorf("result %s: artifactLocation.uri %q is not a valid relative URI reference (%v)", r.RuleID, uri, err)
		}
	}
	for _, s := range sampleSecrets {
		if strings.Contains(out, s) {
			t.Errorf("SARIF reveals %q", s)
		}
	}
}

func TestScanExitCodesAndFilters(t *testing.T) {
	dir := t.TempDir()
	ignore := filepath.Join(dir, "ignore")
	os.WriteFile(ignore, []byte("rule:private-key\nrule:stripe-access-token\nrule:github-pat\nrule:aws-secret-access-key\nrule:database-uri-password\npath:config:**\n"), 0o644)
	// the sample's format findings (its GitHub token passes GitHub's
	// checksum), leaving the keyword ones
	ignoreFormat := filepath.Join(dir, "ignore-format")
	os.WriteFile(ignoreFormat, []byte("rule:private-key\nrule:stripe-access-token\nrule:github-pat\n"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"any", []string{"--fail-on", "any"}, ExitFindings},
		{"none", []string{"--fail-on", "none"}, ExitOK},
		{"bad severity", []string{"--fail-on", "urgent"}, ExitError},
		{"all ignored", []string{"--ignore", ignore}, ExitOK},
		{"format only", []string{"--min-confidence", "format"}, ExitFindings},
		{"keyword findings filtered", []string{"--ignore", ignoreFormat, "--min-confidence", "format"}, ExitOK},
		{"keyword findings kept", []string{"--ignore", ignoreFormat, "--min-confidence", "keyword"}, ExitFindings},
		{"bad confidence", []string{"--min-confidence", "high"}, ExitError},
		// the database URI in the sample is ignored by rule above; a custom
		// pattern on another line of the same .env still reports.
		{"pattern", []string{"--ignore", ignore, "--pattern", `DEBUG=[a-z]+`}, ExitFindings},
		{"bad format", []string{"--format", "xml"}, ExitError},
		{"bad image", []string{"oci:/nonexistent"}, ExitError},
	}
	for _, c := range cases {
		args := append([]string{"scan", "--no-cache"}, c.args...)
		if c.name != "bad image" {
			args = append(args, sample)
		}
		_, errs, code := run(t, "", args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d (%s)", c.name, code, c.code, errs)
		}
	}
}

// TestScanAllTagsFindsCacheLeak: the classic leak, a BuildKit cache tag
// beside a clean latest in a real registry. --all-tags must find the builder
// stage's secret that never reached the image.
func TestScanAllTagsFindsCacheLeak(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.NewEmbedded(t, registrytest.Options{IndexBlobs: true})
	dir := t.TempDir()
	fixture.WriteLayout(t, dir, "latest", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "app/main", Body: []byte("clean")}}}}})
	registrytest.PushLayout(t, ctx, reg, dir, "latest", "team/app:latest")
	forms := []string{"manifest", "index"}
	for _, form := range forms {
		cdir := t.TempDir()
		fixture.Init(t, cdir)
		root := fixture.WriteCacheLayout(t, cdir, "cache", form, []fixture.Layer{
			{Files: []fixture.File{{Path: "src/main.go", Body: []byte("package main")}}},
			{Files: []fixture.File{{Path: "root/.npmrc", Body: []byte("//registry.npmjs.org/:_authToken=npm_Q8mK2vX9qL4tZ7wN1pB6cY3hJ5gF0aD8sEeQ\n")}}},
		})
		repo := reg.Repo(t, ctx, "team/app")
		pushTree(t, ctx, repo, cdir, root, "cache-"+form)
	}
	out, errs, code := run(t, "", "scan", "--no-cache", "--insecure", "--all-tags", "--format", "json", reg.Host+"/team/app")
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res scan.Result
	json.Unmarshal([]byte(out), &res)
	found := map[string]bool{}
	for _, f := range res.Findings {
		if f.Path == "/root/.npmrc" && f.Kind == image.KindCache {
			found[f.Image] = true
		}
		if strings.HasSuffix(f.Image, ":latest") {
			t.Errorf("clean latest has a finding: %+v", f)
		}
	}
	if len(found) != len(forms) {
		t.Fatalf("cache leak found in %v, want both cache forms; findings %+v", found, res.Findings)
	}
}

// pushTree pushes every blob a layout's root names, then the root, with the
// strata client (skopeo rejects BuildKit caches: FIELD-NOTES 2.4).
func pushTree(t *testing.T, ctx context.Context, repo *registry.Repo, dir string, d image.Descriptor, tag string) {
	t.Helper()
	raw, err := os.ReadFile(fixture.BlobPath(dir, d.Digest))
	if err != nil {
		t.Fatal(err)
	}
	p, err := image.ParseManifest(d.MediaType, raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Children() {
		if image.IsManifest(c.MediaType) {
			pushTree(t, ctx, repo, dir, c, "")
			continue
		}
		b, err := os.ReadFile(fixture.BlobPath(dir, c.Digest))
		if err != nil {
			t.Fatal(err)
		}
		registrytest.PushBlob(t, ctx, repo, c.MediaType, b)
	}
	registrytest.PushManifest(t, ctx, repo, tag, d.MediaType, raw)
}

func TestScanListsBinariesOnlyWithVerbose(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		args := []string{"scan", "--no-cache", "--format", "json", "--fail-on", "none", sample}
		if verbose {
			args = append(args, "--verbose")
		}
		out, errs, code := run(t, "", args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var res scan.Result
		json.Unmarshal([]byte(out), &res)
		listed := 0
		for _, s := range res.Coverage.Skipped {
			if strings.HasPrefix(s.Reason, "binary") && s.Path == "/bin/sh" {
				listed++
			}
		}
		if res.Coverage.BinarySkipped != 1 || (listed == 1) != verbose {
			t.Errorf("verbose=%v: binarySkipped %d, bin/sh listed %d times", verbose, res.Coverage.BinarySkipped, listed)
		}
	}
}
