package secret

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
	e := defaultEngine(t)
	var files, bytes, skipped, findings int64
	start := time.Now()
	for _, root := range []string{"/usr/share/doc", "/etc"} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return nil
			}
			defer f.Close()
			info, err := f.Stat()
			if err != nil {
				return nil
			}
			rel := strings.TrimPrefix(p, "/")
			st, err := e.ScanFile(context.Background(), rel, info.Size(), f, func(m Match) {
				findings++
				t.Logf("finding: %s %s:%d %s", m.RuleID, m.Path, m.Line, m.Redacted)
			})
			if err != nil {
				t.Logf("%s: %v", p, err)
			}
			files++
			bytes += st.Bytes
			if st.Skipped {
				skipped++
			}
			return nil
		})
	}
	d := time.Since(start)
	t.Logf("%d findings; %d files, %d skipped, %.1f MB scanned in %s (%.1f MB/s)", findings, files, skipped, float64(bytes)/1e6, d, float64(bytes)/1e6/d.Seconds())
}
