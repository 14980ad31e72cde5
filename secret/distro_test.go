package secret

import (
	"testing"
	"time"
)

// TestDistroFiles runs the engine over this machine's /usr/share/doc and
// /etc (read-only) and reports every finding: an ordinary distribution
// should give nothing but real key files (example keys shipped in docs, the
// ssl-cert snakeoil key). Slow-ish, so skipped with -short. It only logs:
// the machine's own content is not the test's to judge; false positives
// found this way become allowlist entries and TestTrueNegatives cases.
func TestDistroFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("scans /usr/share/doc and /etc; skipped with -short")
	}
	start := time.Now()
	ms, files, bytes := scanTree(t, defaultEngine(t), "/", "usr/share/doc", "etc")
	for _, m := range ms {
		t.Logf("finding: %s %s:%d %s", m.RuleID, m.Path, m.Line, m.Redacted)
	}
	d := time.Since(start)
	t.Logf("%d findings; %d files, %.1f MB scanned in %s (%.1f MB/s)", len(ms), files, float64(bytes)/1e6, d, float64(bytes)/1e6/d.Seconds())
}
