package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/purge"
)

// PurgeDryRun writes a plan that was not applied: the plan, the flags for
// its fixes, and that nothing was deleted.
func PurgeDryRun(w io.Writer, p *purge.Plan) error {
	if err := PurgePlan(w, p); err != nil {
		return err
	}
	PurgeFixFlags(w, p)
	if p.Refused() {
		fmt.Fprintln(Unwrap(w), "\nDry run: nothing deleted. This plan is REFUSED as it stands (see above).")
	} else {
		fmt.Fprintln(Unwrap(w), "\nDry run: nothing deleted. Rerun with --yes to apply this plan.")
	}
	return nil
}

// PurgeStopped says an applied purge stopped on err and how to finish it.
func PurgeStopped(w io.Writer, err error, journal string) {
	fmt.Fprintf(Unwrap(w), "\nPURGE STOPPED: %v\nResume with: strata purge --resume %s\n", err, journal)
}

// PurgeResult writes what an applied purge did, step outcomes counted, its
// verification and verdict, then handOff: what only the registry's
// operator can still do (purge.HandOff).
func PurgeResult(w io.Writer, res *purge.Result, rep *purge.Report, handOff string) error {
	w = Unwrap(w)
	counts := map[string]int{}
	for _, s := range res.Steps {
		counts[s.Outcome]++
	}
	fmt.Fprintf(w, "\nSteps: %d", len(res.Steps))
	for _, o := range []string{purge.OutcomeDeleted, purge.OutcomeAbsent, purge.OutcomeViaDigest, purge.OutcomePlaceholder, purge.OutcomeChanged, purge.OutcomeUnsupported, purge.OutcomeSkipped, purge.OutcomeInUse, purge.OutcomeRestored, purge.OutcomeLost} {
		if counts[o] > 0 {
			fmt.Fprintf(w, ", %s %d", o, counts[o])
		}
	}
	fmt.Fprintln(w)
	if res.TagDeleteUnsupported {
		fmt.Fprintln(w, "The registry refused tag DELETE (distribution 2.8): tags were removed by deleting their manifests by digest.")
	}
	for _, u := range res.InUse {
		fmt.Fprintf(w, "Pushed during the purge: blob %s is used by %s: %s\n", u.Digest, listOrUntagged(u.Tags), map[string]string{
			purge.OutcomeInUse: "not deleted", purge.OutcomeRestored: "deleted, then uploaded again", purge.OutcomeLost: "DELETED: push those tags again"}[u.Outcome])
	}
	fmt.Fprintf(w, "Verified: %d deleted objects answer 404; %d tags present checked whole (%d requests)\n", rep.Gone, rep.Survivors, rep.Requests)
	if len(rep.NewTags) > 0 {
		fmt.Fprintf(w, "Tags pushed or moved during the purge (checked whole): %s\n", strings.Join(rep.NewTags, ", "))
	}
	for _, c := range rep.Changed {
		fmt.Fprintf(w, "  CHANGED: %s\n", c)
	}
	for _, pr := range rep.Problems {
		fmt.Fprintf(w, "  PROBLEM: %s\n", pr)
	}
	_, err := fmt.Fprintf(w, "VERDICT: %s\n\n%s", verdictText(rep.Verdict), handOff)
	return err
}

func verdictText(v string) string {
	switch v {
	case purge.VerdictClean:
		return "CLEAN — the target is no longer retrievable through the API and every surviving tag is whole (storage bytes remain until GC)"
	case purge.VerdictPendingGC:
		return "PENDING GC — manifests are gone but blobs stay pullable by digest until the operator's garbage collection"
	case purge.VerdictRestartNeeded:
		return "RESTART NEEDED — the registry serves deleted blobs from a stale descriptor cache"
	case purge.VerdictChanged:
		return "CHANGED DURING THE PURGE — tags pushed meanwhile use content the plan deleted; it was kept for them and stays pullable through them (see CHANGED above): review them and purge again"
	case purge.VerdictNotPurged:
		return "NOT PURGED — the registry refused deletes; nothing was deleted"
	}
	return "FAILED — see the problems above"
}

func listOrUntagged(tags []string) string {
	if len(tags) == 0 {
		return "untagged manifests"
	}
	return "tags " + strings.Join(tags, ", ")
}

// PurgeJournals lists purge journals (purge.Journals) found in dir: when,
// which repository, steps done, and whether each ended verified or must be
// resumed.
func PurgeJournals(w io.Writer, out []purge.JournalSummary, dir string) error {
	if len(out) == 0 {
		fmt.Fprintf(Unwrap(w), "No purge journals in %s\n", dir)
		return nil
	}
	rows := make([][]string, 0, len(out))
	for _, s := range out {
		state := "interrupted: finish with strata purge --resume " + s.Path
		switch {
		case s.Error != "":
			state = "error " + s.Error
		case s.Verified:
			state = "ok verified"
		}
		rows = append(rows, []string{s.Modified, s.Repository, strconv.Itoa(s.Done) + "/" + strconv.Itoa(s.Steps), state, s.Path})
	}
	return Table(w, []string{"MODIFIED", "REPOSITORY", "STEPS", "STATE", "JOURNAL"}, rows)
}

// PurgePlan writes a purge plan for review.
func PurgePlan(w io.Writer, p *purge.Plan) error { return p.WriteTable(Unwrap(w)) }

// PurgeFixFlags words the plan's fixes as the flags of strata purge that
// apply them.
func PurgeFixFlags(w io.Writer, p *purge.Plan) {
	w = Unwrap(w)
	var lines []string
	for _, r := range p.Refusals {
		l := ""
		if len(r.AlsoTags) > 0 {
			l = "--also-tags " + strings.Join(r.AlsoTags, ",")
		}
		if r.IncludeSharing {
			if l != "" {
				l += " (or --include-sharing)"
			} else {
				l = "--include-sharing"
			}
		}
		if l != "" {
			lines = append(lines, l+": "+r.Fix)
		}
	}
	if len(p.Sharing) > 0 {
		lines = append(lines, "--include-sharing purges the images sharing the leaked layer too; --leaked-layer DIGEST names the leaked layer exactly")
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "\nFlags for these fixes:")
		for _, l := range lines {
			fmt.Fprintln(w, "  "+l)
		}
	}
}

// PurgeWhere writes where layers are used (purge.Where): per digest, each
// repository holding it, whether the blob is present, and the tags and
// manifests using it; a digest found nowhere says so.
func PurgeWhere(w io.Writer, digests []image.Digest, uses []purge.Use) error {
	rows := [][]string{}
	found := map[image.Digest]bool{}
	for _, u := range uses {
		found[u.Digest] = true
		var ms []string
		for _, m := range u.Manifests {
			ms = append(ms, m.Short())
		}
		rows = append(rows, []string{string(u.Digest), u.Repository, yesDash(u.Present), listOrDash(u.Tags), listOrDash(ms)})
	}
	for _, d := range digests {
		if !found[d] {
			rows = append(rows, []string{string(d), "(nowhere)", "-", "-", "-"})
		}
	}
	return Table(w, []string{"DIGEST", "REPOSITORY", "PRESENT", "TAGS", "MANIFESTS"}, rows)
}

func yesDash(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

func listOrDash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}
