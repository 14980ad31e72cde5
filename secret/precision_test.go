package secret

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/internal/testtool"
)

// scanTree scans every regular file under root (or under the given
// subdirectories of root) as an image layer would present it, paths
// relative to root, and returns the findings, files and bytes scanned.
func scanTree(t testing.TB, e *Engine, root string, subdirs ...string) (ms []Match, files int, bytes int64) {
	t.Helper()
	if len(subdirs) == 0 {
		subdirs = []string{"."}
	}
	for _, sub := range subdirs {
		err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			n, err := scanPath(e, p, filepath.ToSlash(rel), func(m Match) { ms = append(ms, m) })
			if err != nil {
				t.Errorf("%s: %v", rel, err)
			}
			files++
			bytes += n
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ms, files, bytes
}

// scanPath scans the file at p under the name rel (an unreadable file
// counts as empty).
func scanPath(e *Engine, p, rel string, emit func(Match)) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, nil
	}
	st, err := e.ScanFile(context.Background(), rel, info.Size(), f, emit)
	return st.Bytes, err
}

// precisionPackages are the runtimes of the precision distribution: a
// Debian bookworm minbase plus what real application images install.
var precisionPackages = []string{"python3", "python3-pip", "nodejs", "default-jre-headless", "git", "curl", "ruby"}

// precisionRootfs returns a Debian bookworm minbase tree with
// precisionPackages installed, or skips the test.
//
// Building it takes root, the Debian mirror and about 200 MB of packages,
// so it is opt-in: with STRATA_PRECISION_ROOTFS naming an existing tree
// that tree is used; with STRATA_PRECISION=1 the tree is built once under
// the user cache directory (strata-precision/bookworm-runtimes) and reused
// afterwards; otherwise the test is skipped. scripts/bench.sh sets
// STRATA_PRECISION=1.
//
// The tree is built with mmdebstrap when it is installed (apt resolves and
// unpacks everything in one pass; the downloaded packages are kept in
// strata-precision/debs and reused by the next build) and with debootstrap
// otherwise (much slower: it installs package by package). Either way the
// packages stay in the tree's apt cache, as debootstrap leaves them and as
// images that skip apt-get clean carry them, so the scan opens them too.
func precisionRootfs(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("STRATA_PRECISION_ROOTFS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "usr")); err != nil {
			t.Fatalf("STRATA_PRECISION_ROOTFS=%s is not a root filesystem: %v", dir, err)
		}
		return dir
	}
	if os.Getenv("STRATA_PRECISION") != "1" {
		t.Skip("precision distribution not built: set STRATA_PRECISION=1 (builds it with mmdebstrap or debootstrap, needs root and the Debian mirror, cached) or STRATA_PRECISION_ROOTFS=DIR")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "strata-precision", "bookworm-runtimes")
	if _, err := os.Stat(filepath.Join(dir, "usr", "bin", "ruby")); err == nil {
		return dir
	}
	if os.Geteuid() != 0 {
		t.Fatal("building the precision distribution needs root")
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := bootstrapCommand(t, filepath.Join(filepath.Dir(dir), "debs"), tmp)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd.Path, err, tail(out, 4000))
	}
	t.Logf("%s built the precision distribution in %s", filepath.Base(cmd.Path), time.Since(start).Round(time.Second))
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bootstrapCommand is the command that installs the precision distribution
// into dir: mmdebstrap with debs as its package cache if it is installed,
// else debootstrap.
func bootstrapCommand(t testing.TB, debs, dir string) *exec.Cmd {
	const suite, mirror = "bookworm", "http://deb.debian.org/debian"
	include := "--include=" + strings.Join(precisionPackages, ",")
	if mm, err := exec.LookPath("mmdebstrap"); err == nil {
		if err := os.MkdirAll(debs, 0o755); err != nil {
			t.Fatal(err)
		}
		// force-unsafe-io: dpkg skips its fsyncs, the tree is rebuilt if
		// the build fails anyway.
		return exec.Command(mm, "--variant=minbase", include, "--dpkgopt=force-unsafe-io",
			"--skip=essential/unlink", "--skip=cleanup/apt/cache",
			`--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
			"--setup-hook=sync-in "+debs+" /var/cache/apt/archives/",
			"--customize-hook=sync-out /var/cache/apt/archives "+debs,
			suite, dir, mirror)
	}
	debootstrap := testtool.Require(t, "debootstrap")
	return exec.Command(debootstrap, "--variant=minbase", include, suite, dir, mirror)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestPrecisionDistro: a real distribution with common runtimes installed
// (and no secrets) gives no finding at all. Opt-in: see precisionRootfs.
func TestPrecisionDistro(t *testing.T) {
	root := precisionRootfs(t)
	start := time.Now()
	ms, files, n := scanTree(t, defaultEngine(t), root)
	for _, m := range ms {
		t.Errorf("false positive: %s %s %s:%d %s", m.Severity, m.RuleID, m.Path, m.Line, m.Redacted)
	}
	d := time.Since(start)
	t.Logf("%d findings; %d files, %.1f MB in %s (%.1f MB/s)", len(ms), files, float64(n)/1e6, d.Round(time.Millisecond), float64(n)/1e6/d.Seconds())
}

// BenchmarkPrecisionDistro scans the precision distribution (see
// precisionRootfs) and reports its findings, which should be 0.
func BenchmarkPrecisionDistro(b *testing.B) {
	root := precisionRootfs(b)
	e := defaultEngine(b)
	var found, n int64
	for b.Loop() {
		ms, _, bytes := scanTree(b, e, root)
		found, n = int64(len(ms)), bytes
	}
	b.SetBytes(n)
	b.ReportMetric(float64(found), "findings")
}
