package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/verify"
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

// FindingsTable writes findings grouped by image (one header per image)
// and by layer within it, deleted and overwritten ones marked as
// recoverable, then a summary grouped by fingerprint and the coverage
// footer. Layer file paths are written absolute (/app/.env).
func FindingsTable(w io.Writer, res *scan.Result, showSecrets, verbose bool) error {
	type section struct {
		where string
		rows  [][]string
	}
	type imageGroup struct {
		title    string
		sections []*section
		byKey    map[string]*section
	}
	var images []*imageGroup
	byImage := map[string]*imageGroup{}
	recoverable := 0
	for _, f := range activeFirst(res.Findings) {
		ikey := f.Image + "\x00" + string(f.Manifest) + "\x00" + f.Platform + "\x00" + string(f.Kind)
		ig := byImage[ikey]
		if ig == nil {
			ig = &imageGroup{title: imageTitle(f), byKey: map[string]*section{}}
			byImage[ikey] = ig
			images = append(images, ig)
		}
		where, skey := "config", "config"
		if f.Layer != nil {
			where = fmt.Sprintf("layer %d  %s", *f.Layer, Truncate(f.CreatedBy, 70))
			skey = "layer" + strconv.Itoa(*f.Layer)
		} else if strings.HasPrefix(f.Path, "attestation:") {
			where, skey = "attestation", "attestation"
		}
		sec := ig.byKey[skey]
		if sec == nil {
			sec = &section{where: where}
			ig.byKey[skey] = sec
			ig.sections = append(ig.sections, sec)
		}
		state := string(f.State)
		if f.State != "" && f.State != "present" {
			recoverable++
			state = strings.ToUpper(state)
			if f.HiddenBy != nil {
				state += fmt.Sprintf(" by layer %d, still recoverable", *f.HiddenBy)
			}
		}
		loc := FindingPath(f)
		if f.Line > 0 {
			loc += ":" + strconv.Itoa(f.Line)
		}
		if f.Encoding != "" {
			loc += " (" + f.Encoding + ")"
		}
		match := f.Redacted
		if showSecrets && f.Secret != "" {
			match += "  secret=" + f.Secret
		}
		sev := strings.ToUpper(f.Severity)
		if v := f.Verification; v != nil {
			state += "; " + VerificationText(v)
			if v.Status == verify.Active {
				sev = "ACTIVE " + sev
			}
		}
		conf := f.Confidence
		if f.Context != "" {
			conf += " (" + f.Context + ")"
		}
		sec.rows = append(sec.rows, []string{sev, conf, f.Rule, loc, state, Truncate(match, 80), fpShort(f.Fingerprint)})
	}
	for _, ig := range images {
		fmt.Fprintln(Unwrap(w), ig.title)
		for _, sec := range ig.sections {
			fmt.Fprintf(Unwrap(w), "  %s\n", sec.where)
			if err := IndentedTable(w, "    ", nil, sec.rows); err != nil {
				return err
			}
		}
		fmt.Fprintln(Unwrap(w))
	}
	writeSummary(Unwrap(w), res, recoverable)
	writeCoverage(Unwrap(w), res.Coverage, verbose)
	return nil
}

// activeFirst orders findings whose secret a provider confirmed live before
// the others, keeping the scan's order within each kind.
func activeFirst(fs []scan.Finding) []scan.Finding {
	out := append([]scan.Finding(nil), fs...)
	sort.SliceStable(out, func(i, j int) bool { return isActive(out[i]) && !isActive(out[j]) })
	return out
}

func isActive(f scan.Finding) bool {
	return f.Verification != nil && f.Verification.Status == verify.Active
}

// VerificationText words a verdict for people: "verified ACTIVE
// (account=1234)", "verified inactive", "verification unknown: timeout".
func VerificationText(v *verify.Result) string {
	switch v.Status {
	case verify.Active:
		if v.Identity != "" {
			return "verified ACTIVE (" + v.Identity + ")"
		}
		return "verified ACTIVE"
	case verify.Inactive:
		return "verified inactive"
	}
	if v.Reason != "" {
		return "verification unknown: " + Truncate(v.Reason, 60)
	}
	return "verification unknown"
}

func imageTitle(f scan.Finding) string {
	title := fmt.Sprintf("%s  %s", f.Image, f.Manifest.Short())
	if f.Platform != "" {
		title += "  " + f.Platform
	}
	if f.Kind != "" && f.Kind != "image" {
		title += "  (" + string(f.Kind) + ")"
	}
	return title
}

// FindingPath is where a finding is, as strata prints it: layer files
// absolute (/app/.env, /app/x.jar!conf/a.properties), config and
// attestation locations as they are (config:env:3).
func FindingPath(f scan.Finding) string {
	if f.Layer != nil {
		return ImagePath(f.Path)
	}
	return f.Path
}

// writeSummary writes the totals and the secrets found in several places.
func writeSummary(w io.Writer, res *scan.Result, recoverable int) {
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
		return
	}
	fmt.Fprintf(w, "%s, %s, %d deleted or overwritten but still recoverable from the image\n",
		Plural(len(res.Findings), "finding", "findings"), Plural(len(fps), "distinct secret", "distinct secrets"), recoverable)
	for _, fp := range fps {
		fs := byFP[fp]
		if len(fs) < 2 {
			continue
		}
		var places []string
		for _, f := range fs {
			p := FindingPath(f)
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

// writeCoverage writes what was scanned and what was skipped.
func writeCoverage(w io.Writer, c scan.Coverage, verbose bool) {
	fmt.Fprintf(w, "\nCoverage: %s, %s (%d from cache), %s (%d scanned, %s), %s, %s, %s\n",
		Plural(c.Images, "image", "images"), Plural(c.Layers, "layer", "layers"), c.LayersFromCache,
		Plural(int(c.Files), "file", "files"), c.FilesScanned, Bytes(c.Bytes),
		Plural(int(c.ArchiveMembers), "archive member", "archive members"),
		Plural(c.ConfigTexts, "config entry", "config entries"), Plural(c.Attestations, "attestation", "attestations"))
	if c.BinarySkipped > 0 || len(c.Skipped) > 0 {
		parts := []string{}
		if c.BinarySkipped > 0 {
			parts = append(parts, Plural(int(c.BinarySkipped), "binary file", "binary files"))
		}
		reasons := map[string]int{}
		for _, s := range c.Skipped {
			if k := skipKind(s.Reason); k != "binary" {
				reasons[k]++
			}
		}
		for r, n := range reasons {
			parts = append(parts, Plural(n, "file ", "files ")+r)
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "Skipped: %s", strings.Join(parts, ", "))
		if !verbose {
			fmt.Fprint(w, " (--verbose lists them; --scan-binaries scans binaries)")
		}
		fmt.Fprintln(w)
		for _, s := range c.Skipped {
			fmt.Fprintf(w, "  %s  %s: %s\n", s.Layer.Short(), ImagePath(s.Path), s.Reason)
		}
	}
	for _, s := range c.NotScanned {
		fmt.Fprintf(w, "Not scanned: %s %s: %s\n", s.Layer.Short(), s.Path, s.Reason)
	}
	for _, s := range c.Mismatched {
		fmt.Fprintf(w, "Mismatched: %s: %s\n", s.Layer.Short(), s.Reason)
	}
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
