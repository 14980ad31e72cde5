package scrub

import (
	"fmt"
	"io"
	"strings"

	"github.com/stratascan/strata/report"
)

// WriteTable renders the plan for review: per image, the layers reused and
// rewritten (bytes before and after), what each rewritten layer loses, the
// config fields redacted; then what is dropped and, for a replace, the
// tags moved and what purge will delete.
func (p *Plan) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "scrub %s\n  old %s\n  new %s\n", p.Source, p.OldRoot.Digest, p.NewRoot.Digest)
	fmt.Fprintf(w, "  %d path(s) removed, %d config field(s) redacted\n\n", p.RemovedPaths, p.RedactedFields)
	for _, ip := range p.Images {
		if ip.Platform != "" {
			fmt.Fprintf(w, "%s  %s -> %s\n", ip.Platform, ip.OldManifest.Digest.Short(), ip.NewManifest.Digest.Short())
		}
		var rows [][]string
		for _, lp := range ip.Layers {
			row := []string{fmt.Sprint(lp.Index), lp.Action, lp.Old.Digest.Short(), report.Bytes(lp.Old.Size), "", ""}
			if lp.Action == ActionRewritten {
				comp := string(lp.Compression)
				if lp.GzipLevel > 0 {
					comp = fmt.Sprintf("gzip -%d", lp.GzipLevel)
				}
				row[4], row[5] = lp.New.Digest.Short()+" "+report.Bytes(lp.New.Size), comp
			}
			rows = append(rows, row)
		}
		if err := report.Table(w, []string{"LAYER", "ACTION", "DIGEST", "BYTES", "NEW", "COMPRESSION"}, rows); err != nil {
			return err
		}
		rows = rows[:0]
		for _, lp := range ip.Layers {
			for _, r := range lp.Removed {
				vis := "was hidden by a later layer"
				switch {
				case r.Reason == ReasonWhiteout:
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
		if err := report.Table(w, []string{"WHERE", "CHANGE", "PATH/FIELD", "WHY", "EFFECT"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	p.writeTail(w)
	return nil
}

func (p *Plan) writeTail(w io.Writer) {
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
		p.Replace.writeTable(w)
	}
}
