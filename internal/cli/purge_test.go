package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/purge"
)

// TestPurgeCLI drives `strata purge` and `strata where` against a TLS +
// htpasswd registry: dry run (table and JSON), refusal over a shared
// digest, apply with --also-tags and a journal, resume of a finished
// journal, and where after the purge.
func TestPurgeCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := registrytest.NewEmbedded(t, registrytest.Options{Auth: true, TLS: true})
	repo := reg.Repo(t, ctx, "acme/search-indexer")
	base := fixture.Layer{Files: []fixture.File{{Path: "etc/os-release", Body: []byte("ID=test\n")}}}
	imgs := map[string]*fixture.Built{
		"latest":   fixture.Build(t, fixture.Image{Layers: []fixture.Layer{base, {Files: []fixture.File{{Path: "app", Body: []byte("1.1")}}}}}),
		"debug-42": fixture.Build(t, fixture.Image{Layers: []fixture.Layer{base, {Files: []fixture.File{{Path: "root/.netrc", Body: []byte("password hunter2")}}}}}),
	}
	for _, tag := range []string{"latest", "debug-42", "debug-latest"} {
		b := imgs[tag]
		if b == nil {
			b = imgs["debug-42"]
		}
		for _, l := range b.Layers {
			registrytest.PushBlob(t, ctx, repo, l.MediaType, l.Bytes)
		}
		registrytest.PushBlob(t, ctx, repo, b.Config.MediaType, b.ConfigBytes)
		registrytest.PushManifest(t, ctx, repo, tag, b.Manifest.MediaType, b.ManifestBytes)
	}
	secretL := imgs["debug-42"].Layers[1].Digest
	auth := []string{"--ca-file", reg.CAFile, "--username", reg.Username, "--password-stdin"}
	ref := reg.Host + "/acme/search-indexer:debug-42"

	out, errs, code := run(t, reg.Password, append(auth, "purge", ref)...)
	if code != ExitOK || !strings.Contains(out, "REFUSED") || !strings.Contains(out, "--also-tags debug-latest") || !strings.Contains(out, "Dry run: nothing deleted") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, reg.Password, append(auth, "purge", "--format", "json", "--also-tags", "debug-latest", ref)...)
	var p purge.Plan
	if err := json.Unmarshal([]byte(out), &p); code != ExitOK || err != nil {
		t.Fatalf("json dry run: exit %d %v\n%s\n%s", code, err, out, errs)
	}
	if len(p.DeleteTags) != 2 || len(p.DeleteBlobs) != 2 || len(p.KeptBlobs) != 1 || p.Refused() {
		t.Errorf("json plan: %+v", p)
	}
	// Two repositories in JSON: an array of two plans.
	other := reg.Repo(t, ctx, "acme/other")
	lb := imgs["latest"]
	for _, l := range lb.Layers {
		registrytest.PushBlob(t, ctx, other, l.MediaType, l.Bytes)
	}
	registrytest.PushBlob(t, ctx, other, lb.Config.MediaType, lb.ConfigBytes)
	registrytest.PushManifest(t, ctx, other, "old", lb.Manifest.MediaType, lb.ManifestBytes)
	out, errs, code = run(t, reg.Password, append(auth, "purge", "-o", "json", ref, reg.Host+"/acme/other:old")...)
	var plans []purge.Plan
	if err := json.Unmarshal([]byte(out), &plans); code != ExitOK || err != nil || len(plans) != 2 || plans[1].Repository != reg.Host+"/acme/other" {
		t.Fatalf("two repositories: exit %d %v\n%s\n%s", code, err, out, errs)
	}
	_, _, code = run(t, reg.Password, append(auth, "purge", "--yes", ref)...)
	if code != ExitError {
		t.Errorf("refused --yes: exit %d, want %d", code, ExitError)
	}
	journal := filepath.Join(t.TempDir(), "purge.jsonl")
	out, errs, code = run(t, reg.Password, append(auth, "purge", "--yes", "--also-tags", "debug-latest", "--journal", journal, ref)...)
	if code != ExitOK || !strings.Contains(out, "VERDICT: CLEAN") || !strings.Contains(out, "garbage-collect --dry-run --delete-untagged") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errs)
	}
	t.Log(out)
	out, errs, code = run(t, reg.Password, append(auth, "purge", "--resume", journal)...)
	if code != ExitOK || !strings.Contains(out, "VERDICT: CLEAN") {
		t.Fatalf("resume of a finished purge: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, reg.Password, append(auth, "where", string(secretL), string(imgs["latest"].Layers[0].Digest), "--repo", reg.Host+"/acme/search-indexer")...)
	if code != ExitOK || !strings.Contains(out, string(secretL)+"  (nowhere)") || !strings.Contains(out, "latest") {
		t.Fatalf("where: exit %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = run(t, reg.Password, append(auth, "where", "--format", "json", string(imgs["latest"].Layers[0].Digest), "--catalog", reg.Host)...)
	var uses []purge.Use
	if err := json.Unmarshal([]byte(out), &uses); code != ExitOK || err != nil || len(uses) != 2 {
		t.Fatalf("where --catalog: exit %d %v\n%s\n%s", code, err, out, errs)
	}
	out, _, code = run(t, reg.Password, append(auth, "where", "--format", "json", string(image.EmptySHA256), "--repo", reg.Host+"/acme/search-indexer")...)
	if code != ExitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("where json: exit %d %q", code, out)
	}
}
