package report

import (
	"os/exec"
	"reflect"
	"testing"

	"github.com/stratascan/strata/scan"
)

func TestRemediationCommands(t *testing.T) {
	one := 1
	fp := "sha256:5f1c4e1e1b1b5b2e3a3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0"
	ref := "registry.example:5000/team/app:1.0"
	cases := []struct {
		name string
		f    scan.Finding
		want []string
	}{
		{"layer file", scan.Finding{Layer: &one, Path: "app/.env", Fingerprint: fp}, []string{
			"strata scrub registry.example:5000/team/app:1.0 --path /app/.env --replace",
			"strata purge registry.example:5000/team/app:1.0"}},
		{"path with spaces and quotes", scan.Finding{Layer: &one, Path: "opt/my app/it's.key", Fingerprint: fp}, []string{
			`strata scrub registry.example:5000/team/app:1.0 --path '/opt/my app/it'\''s.key' --replace`,
			"strata purge registry.example:5000/team/app:1.0"}},
		{"archive member", scan.Finding{Layer: &one, Path: "app/x.jar!conf/a.properties", Fingerprint: fp}, []string{
			"strata scan registry.example:5000/team/app:1.0 --format json > findings.json",
			"strata scrub registry.example:5000/team/app:1.0 --findings findings.json --fingerprint " + fp + " --replace",
			"strata purge registry.example:5000/team/app:1.0"}},
		{"config env", scan.Finding{Path: "config:env", Line: 2, Fingerprint: fp}, []string{
			"strata scan registry.example:5000/team/app:1.0 --format json > findings.json",
			"strata scrub registry.example:5000/team/app:1.0 --findings findings.json --fingerprint " + fp + " --replace",
			"strata purge registry.example:5000/team/app:1.0"}},
		{"attestation", scan.Finding{Path: "attestation:sha256:abc", Fingerprint: fp}, []string{
			"strata purge registry.example:5000/team/app:1.0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RemediationCommands(ref, c.f); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

// TestShellQuote runs each quoted word through a real shell: it must come
// back as one argument, unchanged.
func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	for _, s := range []string{"plain/path.txt", "a b", "it's", `$(id)`, "`x`", "a\nb", "", "*?[", `\`, "x;y&z|w"} {
		out, err := exec.Command(sh, "-c", `printf %s `+shellQuote(s)).Output()
		if err != nil {
			t.Fatalf("sh for %q: %v", s, err)
		}
		if string(out) != s {
			t.Errorf("shellQuote(%q) = %s: the shell read %q", s, shellQuote(s), out)
		}
	}
}
