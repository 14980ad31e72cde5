package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/scan"
)

// TestHTMLTemplatesPartials: the page is a base layout over named partials
// another front end can execute on their own.
func TestHTMLTemplatesPartials(t *testing.T) {
	tpl, err := HTMLTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"base", "image", "timeline", "layers", "findings"} {
		if tpl.Lookup(name) == nil {
			t.Errorf("no %q template", name)
		}
	}
}

// bigReport is an image of n layers with a finding added in every layer
// and deleted by the next.
func bigReport(n int) HTMLReport {
	im := HTMLImage{Reference: "registry.example/big:1", Platform: "linux/amd64", Manifest: image.Digest("sha256:" + strings.Repeat("a", 64)), Walked: true}
	rep := HTMLReport{Command: "scan", References: []string{im.Reference}, Scanned: true}
	for i := range n {
		im.Layers = append(im.Layers, inspect.LayerInfo{Index: i, Digest: image.Digest(fmt.Sprintf("sha256:%064x", i)), Size: int64(1000 + i*37),
			Uncompressed: int64(4000 + i*91), CreatedBy: fmt.Sprintf("RUN step %d && make -j8 install", i),
			Stats: overlay.LayerStats{Added: 500, Files: 500, Bytes: 1 << 20}})
		l, h := i, i+1
		f := scan.Finding{Rule: "github-pat", Severity: "high", Image: im.Reference, Manifest: im.Manifest, Layer: &l,
			Path: fmt.Sprintf("/app/%d/.env", i), Line: 1, State: overlay.Present, Redacted: "<redacted:40 chars>",
			Fingerprint: "sha256:" + strings.Repeat("b", 64), Secret: fmt.Sprintf("ghp_secret%030d", i)}
		if h < n {
			f.State, f.HiddenBy = overlay.Deleted, &h
		}
		rep.Findings = append(rep.Findings, f)
	}
	rep.Images = []HTMLImage{im}
	return rep
}

// TestHTMLLargeImage: a 200-layer image with a finding per layer stays well
// under 5 MB and carries none of the secret values it was given.
func TestHTMLLargeImage(t *testing.T) {
	rep := bigReport(200)
	var b bytes.Buffer
	if err := HTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	if b.Len() > 5<<20 {
		t.Errorf("report is %d bytes, want under 5 MB", b.Len())
	}
	page := b.String()
	for _, f := range rep.Findings {
		if strings.Contains(page, f.Secret) {
			t.Fatalf("the page reveals %q", f.Secret)
		}
	}
	if got := strings.Count(page, `class="bar"`); got != 200 {
		t.Errorf("%d bars, want 200", got)
	}
	if got := strings.Count(page, `<circle class="marker`); got != 200 {
		t.Errorf("%d markers, want 200", got)
	}
	t.Logf("200 layers, 200 findings: %d bytes", b.Len())
}

// TestHTMLScrubsStepSecrets: a value a finding carries is scrubbed from
// build steps and paths too, not only left out of the table.
func TestHTMLScrubsStepSecrets(t *testing.T) {
	rep := bigReport(3)
	rep.Images[0].Layers[1].CreatedBy = "RUN echo " + rep.Findings[1].Secret + " > /root/.token"
	rep.Findings[2].Path = "/app/" + rep.Findings[2].Secret
	var b bytes.Buffer
	if err := HTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if strings.Contains(b.String(), f.Secret) {
			t.Errorf("the page reveals %q", f.Secret)
		}
	}
	if !strings.Contains(b.String(), "RUN echo &lt;redacted&gt; &gt; /root/.token") {
		t.Error("the build step lost its text around the scrubbed value")
	}
}
