package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/stratascan/strata/scan"
)

// Severities from least to most severe.
var severityRank = map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}

// SeverityAtLeast reports whether sev is at or above min ("any" matches all).
func SeverityAtLeast(sev, min string) bool {
	if min == "" || min == "any" {
		return true
	}
	return severityRank[strings.ToLower(sev)] >= severityRank[strings.ToLower(min)]
}

// ValidSeverity checks a --fail-on value.
func ValidSeverity(s string) error {
	if s == "any" || s == "none" || severityRank[s] > 0 {
		return nil
	}
	return fmt.Errorf("unknown severity %q: use any, low, medium, high, critical or none", s)
}

// FindingsTable writes findings grouped by image and layer, deleted and
// overwritten ones marked as recoverable, then a summary grouped by
// fingerprint and the coverage footer.
func FindingsTable(w io.Writer, res *scan.Result, showSecrets, verbose bool) error {
	type group struct {
		key, title string
		rows       [][]string
	}
	var groups []*group
	byKey := map[string]*group{}
	recoverable := 0
	for _, f := range res.Findings {
		key := f.Image + "\x00" + string(f.Manifest) + "\x00" + f.Platform
		title := fmt.Sprintf("%s  %s", f.Image, f.Manifest.Short())
		if f.Platform != "" {
			title += "  " + f.Platform
		}
		if f.Kind != "" && f.Kind != "image" {
			title += "  (" + string(f.Kind) + ")"
		}
		where := "config"
		if f.Layer != nil {
			where = fmt.Sprintf("layer %d  %s", *f.Layer, Truncate(f.CreatedBy, 70))
			key += "\x00" + strconv.Itoa(*f.Layer)
		} else if strings.HasPrefix(f.Path, "attestation:") {
			where = "attestation"
			key += "\x00att"
		}
		g := byKey[key]
		if g == nil {
			g = &group{key: key, title: title + "\n  " + where}
			byKey[key] = g
			groups = append(groups, g)
		}
		state := string(f.State)
		if f.State != "" && f.State != "present" {
			recoverable++
			state = strings.ToUpper(state)
			if f.HiddenBy != nil {
				state += fmt.Sprintf(" by layer %d, still recoverable", *f.HiddenBy)
			}
		}
		loc := f.Path
		if f.Line > 0 {
			loc += ":" + strconv.Itoa(f.Line)
		}
		match := f.Redacted
		if showSecrets && f.Secret != "" {
			match += "  secret=" + f.Secret
		}
		conf := f.Confidence
		if f.Context != "" {
			conf += " (" + f.Context + ")"
		}
		g.rows = append(g.rows, []string{strings.ToUpper(f.Severity), conf, f.Rule, loc, state, Truncate(match, 80), fpShort(f.Fingerprint)})
	}
	for _, g := range groups {
		fmt.Fprintf(w, "%s\n", g.title)
		var b strings.Builder
		if err := Table(&b, nil, g.rows); err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
		fmt.Fprintln(w)
	}
	// Summary by fingerprint.
	byFP := map[string][]scan.Finding{}
	for _, f := range res.Findings {
		byFP[f.Fingerprint] = append(byFP[f.Fingerprint], f)
	}
	fps := make([]string, 0, len(byFP))
	for fp := range byFP {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	if len(res.Findings) == 0 {
		fmt.Fprintln(w, "No secrets found.")
	} else {
		fmt.Fprintf(w, "%d findings, %d distinct secrets, %d deleted or overwritten but still recoverable from the image\n",
			len(res.Findings), len(fps), recoverable)
		for _, fp := range fps {
			fs := byFP[fp]
			if len(fs) < 2 {
				continue
			}
			var places []string
			for _, f := range fs {
				p := f.Path
				if f.Layer != nil {
					p = fmt.Sprintf("layer %d:%s", *f.Layer, p)
				}
				places = append(places, p)
			}
			fmt.Fprintf(w, "  %s (%s) in %d places: %s\n", fpShort(fp), fs[0].Rule, len(fs), Truncate(strings.Join(places, ", "), 140))
		}
		fmt.Fprintln(w, "Remediation: rotate every secret listed (deleting it from a later layer does not remove it from the image);")
		fmt.Fprintln(w, "  pass build secrets with RUN --mount=type=secret, not ARG/ENV/COPY; remove leaked images with strata purge.")
	}
	c := res.Coverage
	fmt.Fprintf(w, "\nCoverage: %d images, %d layers (%d from cache), %d files (%d scanned, %s), %d archive members, %d config entries, %d attestations\n",
		c.Images, c.Layers, c.LayersFromCache, c.Files, c.FilesScanned, Bytes(c.Bytes), c.ArchiveMembers, c.ConfigTexts, c.Attestations)
	if c.BinarySkipped > 0 || len(c.Skipped) > 0 {
		parts := []string{}
		if c.BinarySkipped > 0 {
			parts = append(parts, fmt.Sprintf("%d binary files", c.BinarySkipped))
		}
		reasons := map[string]int{}
		for _, s := range c.Skipped {
			if k := skipKind(s.Reason); k != "binary" {
				reasons[k]++
			}
		}
		for r, n := range reasons {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "Skipped: %s", strings.Join(parts, ", "))
		if !verbose {
			fmt.Fprint(w, " (--verbose lists them; --scan-binaries scans binaries)")
		}
		fmt.Fprintln(w)
		for _, s := range c.Skipped {
			fmt.Fprintf(w, "  %s  %s: %s\n", s.Layer.Short(), s.Path, s.Reason)
		}
	}
	for _, s := range c.NotScanned {
		fmt.Fprintf(w, "Not scanned: %s %s: %s\n", s.Layer.Short(), s.Path, s.Reason)
	}
	return nil
}

func skipKind(reason string) string {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "binary"):
		return "binary"
	case strings.Contains(r, "time"):
		return "timed out"
	case strings.Contains(r, "limit") || strings.Contains(r, "cap") || strings.Contains(r, "large"):
		return "over a size limit"
	}
	return "other"
}

func fpShort(fp string) string {
	if len(fp) > 19 {
		return fp[:19] + "…"
	}
	return fp
}
