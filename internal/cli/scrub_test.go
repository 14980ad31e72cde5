package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
)

// TestScrubDryRun: the plan of the sample image, as a golden table.
func TestScrubDryRun(t *testing.T) {
	out, errb, code := run(t, "", "scrub", sample, "--dry-run", "--no-rescan", "--no-cache", "--path", "/app/.env", "--path", "/app/.ssh/id_ed25519",
		"--env", "GITHUB_TOKEN", "--build-arg", "AWS_SECRET_ACCESS_KEY")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	golden(t, "scrub-dry-run.txt", out)
}

// TestScrubScanCache: after a scan filled the cache, scrub lists every
// layer from it and reads only the layers it rewrites, and plans the same
// image as without the cache.
func TestScrubScanCache(t *testing.T) {
	cache := t.TempDir()
	if _, errb, code := run(t, "", "scan", "--cache-dir", cache, "--fail-on", "none", sample); code != ExitOK {
		t.Fatalf("scan: exit %d: %s", code, errb)
	}
	type reads struct {
		Plan struct {
			NewRoot struct{ Digest string }
			Reads   struct{ ListedFromCache, ListedByWalk, RewrittenFromSpool, RewrittenFromBlob int }
		}
	}
	var docs [2]reads
	for i, flag := range [][]string{{"--no-cache"}, {"--cache-dir", cache}} {
		args := append([]string{"scrub", sample, "-o", "json", "--dry-run", "--no-rescan", "--path", "/app/.env"}, flag...)
		out, errb, code := run(t, "", args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", flag, code, errb)
		}
		if err := json.Unmarshal([]byte(out), &docs[i]); err != nil {
			t.Fatal(err)
		}
	}
	cold, warm := docs[0].Plan, docs[1].Plan
	if cold.NewRoot.Digest == "" || cold.NewRoot.Digest != warm.NewRoot.Digest {
		t.Fatalf("new root %q without the cache, %q with it", cold.NewRoot.Digest, warm.NewRoot.Digest)
	}
	if r := cold.Reads; r.ListedFromCache != 0 || r.ListedByWalk == 0 || r.RewrittenFromBlob != 0 || r.RewrittenFromSpool == 0 {
		t.Errorf("without the cache: reads %+v, want every layer walked once and rewrites from the walk's copy", r)
	}
	if r := warm.Reads; r.ListedByWalk != 0 || r.ListedFromCache != cold.Reads.ListedByWalk || r.RewrittenFromBlob != cold.Reads.RewrittenFromSpool {
		t.Errorf("with the cache: reads %+v, want every layer listed from it and only rewritten ones read", r)
	}
}

// TestScrubToOCI writes the scrubbed sample and scans it: the removed
// secrets are gone; JSON output names the written root.
func TestScrubToOCI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "clean")
	out, errb, code := run(t, "", "scrub", sample, "-o", "json", "--no-cache", "--path", "/app/.env", "--path", "/app/.ssh/id_ed25519",
		"--build-arg", "AWS_SECRET_ACCESS_KEY", "--env", "GITHUB_TOKEN", "--to", "oci:"+dir+":clean")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var doc struct {
		Plan struct {
			NewRoot      struct{ Digest string }
			Verification struct{ Rescanned bool }
		}
		Applied struct{ Root struct{ Digest string } }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Applied.Root.Digest == "" || doc.Applied.Root.Digest != doc.Plan.NewRoot.Digest || !doc.Plan.Verification.Rescanned {
		t.Fatalf("json: %s", out)
	}
	scanOut, _, _ := run(t, "", "scan", "--no-cache", "oci:"+dir+":clean")
	for _, rule := range []string{"stripe-access-token", "private-key", "github-pat", "aws-secret-access-key"} {
		if strings.Contains(scanOut, rule) {
			t.Errorf("scan of the scrubbed image still reports %s:\n%s", rule, scanOut)
		}
	}
}

func TestScrubBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"scrub", sample, "--path", "/app/.env"}, "--to REF, --replace, or --dry-run"},
		{[]string{"scrub", sample, "--dry-run"}, "nothing to remove"},
		{[]string{"scrub", sample, "--dry-run", "--rule", "x", "--path", "/a"}, "give --findings too"},
		{[]string{"scrub", sample, "--to", "oci:x", "--replace", "--path", "/a"}, "exclude each other"},
		{[]string{"scrub", sample, "--replace", "--no-rescan", "--path", "/app/.env"}, "--replace works on registry images"},
		{[]string{"scrub", sample, "--no-rescan", "--path", "/app/.env", "--to", "dir:/tmp/x"}, "cannot be written"},
	} {
		_, errb, code := run(t, "", c.args...)
		if code != ExitError || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errb, c.want)
		}
	}
}

// TestScrubReplaceCLI: --replace --dry-run lists the tags to move and the
// blobs purge will delete and changes nothing; --replace without --yes
// moves the tags and only plans the purge; --resume of its journal gets
// the same scrubbed digest from the old one.
func TestScrubReplaceCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := registrytest.NewEmbedded(t, registrytest.Options{Auth: true, TLS: true})
	repo := reg.Repo(t, ctx, "acme/app")
	img := fixture.Image{Layers: []fixture.Layer{
		{Files: []fixture.File{{Path: "etc/os-release", Body: []byte("ID=test\n")}}},
		{Files: []fixture.File{{Path: "root/.netrc", Body: []byte("machine x login u password hunter2\n")}, {Path: "app", Body: []byte("1.1")}}},
	}}
	old, _ := registrytest.PushFixture(t, ctx, repo, "v1", img)
	auth := []string{"--ca-file", reg.CAFile, "--username", reg.Username, "--password-stdin"}
	ref := reg.Host + "/acme/app:v1"

	out, errs, code := run(t, reg.Password, append(auth, "scrub", ref, "--replace", "--dry-run", "--no-rescan", "--path", "/root/.netrc")...)
	if code != ExitOK || !strings.Contains(out, "move tag v1:") || !strings.Contains(out, "blob(s) expected to go") || !strings.Contains(out, "Dry run: nothing pushed") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	if d, _ := repo.HeadManifest(ctx, "v1"); d.Digest != old.Digest {
		t.Fatal("the dry run moved v1")
	}
	journal := filepath.Join(t.TempDir(), "scrub.jsonl")
	out, errs, code = run(t, reg.Password, append(auth, "scrub", ref, "--replace", "--no-rescan", "--path", "/root/.netrc", "--journal", journal)...)
	if code != ExitOK || !strings.Contains(out, "moved 1 tag(s)") || !strings.Contains(out, "rerun with --yes") {
		t.Fatalf("replace: exit %d\n%s\n%s", code, out, errs)
	}
	if d, _ := repo.HeadManifest(ctx, "v1"); d.Digest == old.Digest {
		t.Fatal("v1 still points at the old digest")
	}
	if _, err := repo.HeadManifest(ctx, string(old.Digest)); err != nil {
		t.Fatalf("the old digest went without --yes: %v", err)
	}
	// --resume makes the plan again from the old digest (the tag has moved)
	// and finds the same scrubbed digest.
	out, errs, code = run(t, reg.Password, append(auth, "scrub", "--resume", journal, "--no-rescan")...)
	if code != ExitOK || !strings.Contains(out, "moved 1 tag(s)") {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errs)
	}
}
