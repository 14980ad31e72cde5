package purge

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the plan for people.
func (p *Plan) WriteTable(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Purge plan for %s (inventory: %d tags, %d manifests, %d blobs; referrers API: %v)\n",
		p.Repository, p.Inventory.Tags, p.Inventory.Manifests, p.Inventory.Blobs, p.Inventory.ReferrersAPI)
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	section := func(title string, n int) bool {
		tw.Flush()
		fmt.Fprintf(b, "\n%s (%d)\n", title, n)
		return n > 0
	}
	if section("TARGETS", len(p.Targets)) {
		fmt.Fprintln(tw, "  REF\tDIGEST\tKIND\tREASON")
		for _, t := range p.Targets {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Ref, t.Digest, t.Kind, t.Reason)
		}
	}
	if section("DELETE TAGS", len(p.DeleteTags)) {
		fmt.Fprintln(tw, "  TAG\tDIGEST\tREASON")
		for _, t := range p.DeleteTags {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Tag, t.Digest, t.Reason)
		}
	}
	if section("DELETE MANIFESTS (in this order)", len(p.DeleteManifests)) {
		fmt.Fprintln(tw, "  DIGEST\tKIND\tROLE\tPLATFORM")
		for _, m := range p.DeleteManifests {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Digest, m.Kind, m.Role, m.Platform)
		}
	}
	if section("DELETE BLOBS (referenced by deleted manifests only)", len(p.DeleteBlobs)) {
		fmt.Fprintln(tw, "  DIGEST\tROLE\tSIZE\tLEAKED")
		for _, bl := range p.DeleteBlobs {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", bl.Digest, bl.Role, bl.Size, yes(bl.Leaked))
		}
	}
	if section("KEEP BLOBS (still used by survivors)", len(p.KeptBlobs)) {
		fmt.Fprintln(tw, "  DIGEST\tROLE\tUSED BY TAGS\tLEAKED")
		for _, k := range p.KeptBlobs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", k.Digest, k.Role, listOr(k.Tags, "(untagged manifests only)"), yes(k.Leaked))
		}
	}
	if len(p.KeptManifests) > 0 {
		section("KEEP MANIFESTS (children or referrers still used by survivors)", len(p.KeptManifests))
		fmt.Fprintln(tw, "  DIGEST\tKIND\tUSED BY TAGS")
		for _, k := range p.KeptManifests {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", k.Digest, k.Role, listOr(k.Tags, "(untagged)"))
		}
	}
	if len(p.LeakedLayers) > 0 {
		section("LEAKED LAYERS", len(p.LeakedLayers))
		for _, l := range p.LeakedLayers {
			fmt.Fprintf(tw, "  %s\n", l)
		}
	}
	if len(p.Sharing) > 0 {
		section("!!! THESE LEAK TOO: surviving content containing a leaked layer", len(p.Sharing))
		fmt.Fprintln(tw, "  MANIFEST\tKIND\tTAGS\tLEAKED LAYERS\tINCLUDED")
		for _, s := range p.Sharing {
			var ls []string
			for _, l := range s.Layers {
				ls = append(ls, l.Short())
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Manifest, s.Kind, listOr(s.Tags, "(untagged)"), strings.Join(ls, ","), yes(s.Included))
		}
	}
	if len(p.Indexes) > 0 {
		section("MULTI-ARCH INDEXES LISTING A TARGET", len(p.Indexes))
		fmt.Fprintln(tw, "  INDEX\tTAGS\tCHILD\tPLATFORM\tACTION")
		for _, ix := range p.Indexes {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", ix.Index, listOr(ix.Tags, "-"), ix.Child.Short(), ix.Platform, ix.Action)
		}
	}
	tw.Flush()
	if len(p.Refusals) > 0 {
		fmt.Fprintf(b, "\nREFUSED (%d): nothing will be deleted until these are resolved\n", len(p.Refusals))
		for _, r := range p.Refusals {
			fmt.Fprintf(b, "  - %s\n    fix: %s\n", r.Reason, r.Fix)
		}
	}
	fmt.Fprintf(b, "\nSurviving tags that must keep their digests: %d\n", len(p.SurvivingTags))
	if len(p.Notes) > 0 {
		fmt.Fprintln(b, "\nNOTES")
		for _, n := range p.Notes {
			fmt.Fprintf(b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}
