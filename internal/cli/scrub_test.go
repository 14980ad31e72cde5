package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestScrubDryRun: the plan of the sample image, as a golden table.
func TestScrubDryRun(t *testing.T) {
	out, errb, code := run(t, "", "scrub", sample, "--dry-run", "--no-rescan", "--path", "/app/.env", "--path", "/app/.ssh/id_ed25519",
		"--env", "GITHUB_TOKEN", "--build-arg", "AWS_SECRET_ACCESS_KEY")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	golden(t, "scrub-dry-run.txt", out)
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
