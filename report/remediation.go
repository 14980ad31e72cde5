package report

import (
	"strings"

	"github.com/stratascan/strata/scan"
)

// RemediationCommands returns the strata command lines that remove a
// finding from the image ref ("host/repo:tag" or "host/repo@digest"), for
// a person to review and run, in order of preference:
//
//   - rewrite the image without the secret and move its tags to the
//     result: "strata scrub REF --path P --replace" for a layer file; for
//     an archive member, a config value or a history entry (which --path
//     cannot name) the scan's JSON report narrowed to the finding's
//     fingerprint;
//   - or delete the image: "strata purge REF".
//
// Both print their plan and change nothing without --yes. Attestation
// findings get only the purge (a scrubbed image does not keep the old
// attestations). No line holds a secret value: only the path, the
// fingerprint and the reference.
func RemediationCommands(ref string, f scan.Finding) []string {
	r := shellQuote(ref)
	var cmds []string
	switch {
	case strings.HasPrefix(f.Path, "attestation:"):
	case f.Layer != nil && !strings.Contains(f.Path, "!"):
		cmds = append(cmds, "strata scrub "+r+" --path "+shellQuote(ImagePath(f.Path))+" --replace")
	default:
		cmds = append(cmds, "strata scan "+r+" --format json > findings.json",
			"strata scrub "+r+" --findings findings.json --fingerprint "+shellQuote(f.Fingerprint)+" --replace")
	}
	return append(cmds, "strata purge "+r)
}

// shellQuote returns s as one POSIX shell word: as is when it holds only
// characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
