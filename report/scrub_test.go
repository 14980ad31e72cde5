package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/scrub"
)

// TestScrubTail: after the plan, the table says what the run did: a dry
// run what it did not do, a write where the image went and how its blobs
// got there, a replace the tags moved and the purge planned (with no
// "rerun with --yes" hint when the replace failed); JSON carries none of
// the table's words.
func TestScrubTail(t *testing.T) {
	d := image.Digest("sha256:" + strings.Repeat("ab", 32))
	replaced := &scrub.Replaced{Journal: "j.jsonl", Moved: make([]scrub.TagMove, 2), Push: scrub.PushStats{Present: 3, Uploaded: 1, Bytes: 2048},
		Purge: &purge.Plan{}}
	for _, c := range []struct {
		name, format string
		out          ScrubOutput
		want, not    []string
	}{
		{"dry run", FormatTable, ScrubOutput{DryRun: "nothing written."}, []string{"\nDry run: nothing written.\n"}, []string{"wrote"}},
		{"written", FormatTable, ScrubOutput{Applied: &scrub.Applied{Destination: "oci:out", Root: image.Descriptor{Digest: d},
			Push: &scrub.PushStats{Present: 5, Mounted: 2, Uploaded: 1, Bytes: 1 << 20}}},
			[]string{"\nwrote " + string(d) + " to oci:out (blobs: 5 present, 2 mounted, 1 uploaded, 1.0 MiB)\n"}, []string{"Dry run"}},
		{"replaced, purge planned", FormatTable, ScrubOutput{Replace: replaced},
			[]string{"moved 2 tag(s) (blobs: 3 present, 1 uploaded, 2.0 KiB; journal j.jsonl)", "rerun with --yes"}, nil},
		{"replace failed", FormatTable, ScrubOutput{Replace: replaced, Failed: true}, []string{"moved 2 tag(s)"}, []string{"rerun with --yes"}},
		{"json", FormatJSON, ScrubOutput{Replace: replaced, DryRun: "nothing written."}, []string{`"journal": "j.jsonl"`}, []string{"Dry run", "rerun"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Scrub(&b, c.format, c.out); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range c.not {
				if strings.Contains(b.String(), w) {
					t.Errorf("output has %q:\n%s", w, b.String())
				}
			}
		})
	}
}
