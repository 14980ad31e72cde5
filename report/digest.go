package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/provenance/infer"
)

// Inference is what strata digest infer reports of a local image: per
// layer, the digest each builder's compressor would give it, and with
// Against which profile reproduces the digests a registry serves.
type Inference struct {
	Image      string            `json:"image"`
	Digest     image.Digest      `json:"digest"`
	Platform   string            `json:"platform,omitempty"`
	Caveat     string            `json:"caveat"`
	Versions   map[string]string `json:"compressorVersions"`
	Profiles   []infer.Profile   `json:"profiles"`
	Layers     []infer.Layer     `json:"layers"`
	Against    string            `json:"against,omitempty"`
	ServedBy   image.Digest      `json:"servedManifest,omitempty"`
	Reproduced *int              `json:"reproduced,omitempty"`
}

// InferTable writes an Inference for people: per layer its stored blob,
// each profile's digest and size, and its diff_id; with Against, the
// served digest marked and the profile that reproduces it.
func InferTable(w io.Writer, rep Inference) error {
	fmt.Fprintf(Unwrap(w), "%s %s %s\n", rep.Image, OrDash(rep.Platform), rep.Digest)
	fmt.Fprintf(Unwrap(w), "NOTE: %s\n\n", rep.Caveat)
	head := []string{"LAYER", "PROFILE", "DIGEST", "SIZE"}
	if rep.Against != "" {
		head = append(head, "SERVED")
	}
	var rows [][]string
	for _, l := range rep.Layers {
		row := func(profile string, d image.Digest, size string) {
			r := []string{strconv.Itoa(l.Index), profile, string(d), size}
			if rep.Against != "" {
				mark := ""
				if d == l.Served {
					mark = "<= served"
				}
				r = append(r, mark)
			}
			rows = append(rows, r)
		}
		row("stored ("+string(l.StoredCompression)+")", l.Stored.Digest, strconv.FormatInt(l.Stored.Size, 10))
		for _, c := range l.Candidates {
			row(c.Profile, c.Digest, strconv.FormatInt(c.Size, 10))
		}
		row("diff_id", l.DiffID, "")
	}
	if err := Table(w, head, rows); err != nil {
		return err
	}
	if rep.Against != "" {
		fmt.Fprintf(Unwrap(w), "\n%s (manifest %s): %d of %d layers reproduced\n", rep.Against, rep.ServedBy, *rep.Reproduced, len(rep.Layers))
		for _, l := range rep.Layers {
			m := l.Match
			if m == "" {
				m = "no profile reproduces it (another compressor or version)"
			}
			fmt.Fprintf(Unwrap(w), "  layer %d %s: %s\n", l.Index, l.Served.Short(), m)
		}
	}
	return nil
}
