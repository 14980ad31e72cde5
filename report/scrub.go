package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/stratascan/strata/scrub"
)

// ScrubOutput is what a scrub run reports (the --format json document):
// the plan, and what was written (Applied) or replaced (Replace).
type ScrubOutput struct {
	Plan    *scrub.Plan     `json:"plan"`
	Applied *scrub.Applied  `json:"applied,omitempty"`
	Replace *scrub.Replaced `json:"replace,omitempty"`
	// DryRun, for the table, says what the dry run did not do.
	DryRun string `json:"-"`
	// Failed, for the table: the replace stopped on an error (no "rerun
	// with --yes" hint then).
	Failed bool `json:"-"`
}

// Scrub writes a scrub run's outcome as a table (the plan, then what was
// written, moved or purged) or as JSON.
func Scrub(w io.Writer, format string, out ScrubOutput) error {
	if format == FormatJSON {
		return JSON(w, out)
	}
	if out.Plan != nil {
		if err := ScrubPlan(w, out.Plan); err != nil {
			return err
		}
	}
	switch {
	case out.DryRun != "":
		fmt.Fprintf(w, "\nDry run: %s\n", out.DryRun)
	case out.Replace != nil:
		scrubReplaced(w, out.Replace, out.Failed)
	case out.Applied != nil:
		fmt.Fprintf(w, "\nwrote %s to %s", out.Applied.Root.Digest, out.Applied.Destination)
		if st := out.Applied.Push; st != nil {
			fmt.Fprintf(w, " (blobs: %d present, %d mounted, %d uploaded, %s)", st.Present, st.Mounted, st.Uploaded, Bytes(st.Bytes))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// scrubReplaced says what a replace did: tags moved, the purge planned or
// its verdict, and the hand-off to garbage collection.
func scrubReplaced(w io.Writer, r *scrub.Replaced, failed bool) {
	fmt.Fprintf(w, "\nmoved %d tag(s) (blobs: %d present, %d uploaded, %s; journal %s)\n", len(r.Moved), r.Push.Present, r.Push.Uploaded, Bytes(r.Push.Bytes), r.Journal)
	if r.Purge != nil && r.PurgeResult == nil && !failed {
		fmt.Fprintf(w, "purge of the old digest planned: %d manifest(s), %d blob(s); rerun with --yes to apply it\n", len(r.Purge.DeleteManifests), len(r.Purge.DeleteBlobs))
	}
	if r.Verify != nil {
		fmt.Fprintf(w, "purge verdict: %s\n", r.Verify.Verdict)
	}
	if r.HandOff != "" && r.PurgeResult != nil {
		fmt.Fprint(w, "\n"+r.HandOff)
	}
}

// ScrubPlan renders a scrub plan for review: per image, the layers reused
// and rewritten (bytes before and after), what each rewritten layer loses,
// the config fields redacted; then what is dropped and, for a replace, the
// tags moved and what purge will delete.
func ScrubPlan(w io.Writer, p *scrub.Plan) error {
	fmt.Fprintf(w, "scrub %s\n  old %s\n  new %s\n", p.Source, p.OldRoot.Digest, p.NewRoot.Digest)
	fmt.Fprintf(w, "  %d path(s) removed, %d config field(s) redacted\n\n", p.RemovedPaths, p.RedactedFields)
	for _, ip := range p.Images {
		if ip.Platform != "" {
			fmt.Fprintf(w, "%s  %s -> %s\n", ip.Platform, ip.OldManifest.Digest.Short(), ip.NewManifest.Digest.Short())
		}
		var rows [][]string
		for _, lp := range ip.Layers {
			row := []string{fmt.Sprint(lp.Index), lp.Action, lp.Old.Digest.Short(), Bytes(lp.Old.Size), "", ""}
			if lp.Action == scrub.ActionRewritten {
				comp := string(lp.Compression)
				if lp.GzipLevel > 0 {
					comp = fmt.Sprintf("gzip -%d", lp.GzipLevel)
				}
				row[4], row[5] = lp.New.Digest.Short()+" "+Bytes(lp.New.Size), comp
			}
			rows = append(rows, row)
		}
		if err := Table(w, []string{"LAYER", "ACTION", "DIGEST", "BYTES", "NEW", "COMPRESSION"}, rows); err != nil {
			return err
		}
		rows = rows[:0]
		for _, lp := range ip.Layers {
			for _, r := range lp.Removed {
				vis := "was hidden by a later layer"
				switch {
				case r.Reason == scrub.ReasonWhiteout:
					vis = "hides nothing any more"
				case r.Visible:
					vis = "was visible in the final image"
				}
				why := r.Reason
				if r.Match != "" {
					why += " " + r.Match
				}
				rows = append(rows, []string{fmt.Sprint(lp.Index), "remove " + r.Type.String(), r.Path, why, vis})
			}
			for _, m := range lp.Members {
				rows = append(rows, []string{fmt.Sprint(lp.Index), "rewrite archive", m.Archive, "without " + strings.Join(m.Members, ", "), ""})
			}
		}
		for _, c := range ip.ConfigChanges {
			rows = append(rows, []string{"config", "redact", c.Field, c.Reason, ""})
		}
		fmt.Fprintln(w)
		if err := Table(w, []string{"WHERE", "CHANGE", "PATH/FIELD", "WHY", "EFFECT"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	scrubPlanTail(w, p)
	return nil
}

func scrubPlanTail(w io.Writer, p *scrub.Plan) {
	for _, d := range p.Dropped {
		ref := ""
		if d.Ref != "" {
			ref = " (" + d.Ref + ")"
		}
		fmt.Fprintf(w, "dropped %s %s%s of %s\n", d.Kind, d.Digest.Short(), ref, d.For.Short())
	}
	if len(p.Dropped) > 0 {
		fmt.Fprintln(w, "the scrubbed image has new digests: sign and attest it again")
	}
	for _, u := range p.UnmatchedFindings {
		fmt.Fprintf(w, "warning: finding %s matched no entry of this image\n", u)
	}
	if r := p.Reads; r.ListedFromCache+r.ListedByWalk > 0 {
		fmt.Fprintf(w, "read: %d layer(s) listed from the scan cache, %d by a walk; %d rewritten from the walk's copy, %d from the blob\n",
			r.ListedFromCache, r.ListedByWalk, r.RewrittenFromSpool, r.RewrittenFromBlob)
	}
	if v := p.Verification; v != nil {
		fmt.Fprintf(w, "verified: %d rewritten layer(s) re-read (%d entries), %d final entries compared", v.LayersReread, v.EntriesCompared, v.FinalEntries)
		if v.Rescanned {
			fmt.Fprintf(w, ", rescan finds none of %d removed fingerprint(s)", v.Fingerprints)
		}
		fmt.Fprintln(w)
		for _, e := range v.Exposed {
			fmt.Fprintf(w, "note: %s: a lower layer's version now shows (no selector named it)\n", e)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if p.Replace != nil {
		scrubReplacePlan(w, p.Replace)
	}
}

func scrubReplacePlan(w io.Writer, r *scrub.ReplacePlan) {
	fmt.Fprintf(w, "\nreplace in %s:\n", r.Repository)
	for _, t := range r.Tags {
		fmt.Fprintf(w, "  move tag %s: %s -> %s\n", t.Tag, t.From.Short(), t.To.Short())
	}
	fmt.Fprintf(w, "then purge %s: %d manifest(s) and %d blob(s) expected to go:\n", r.OldDigest.Short(), len(r.PurgeManifests), len(r.PurgeBlobs))
	for _, d := range r.PurgeManifests {
		fmt.Fprintf(w, "  manifest %s\n", d)
	}
	for _, d := range r.PurgeBlobs {
		fmt.Fprintf(w, "  blob     %s\n", d)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "  note:", n)
	}
}
