// Package testtool helps tests that need external programs (skopeo, umoci,
// docker-registry): a missing tool fails the test in CI (CI set to a true
// value) and skips it elsewhere.
package testtool

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// CI reports whether the environment variable CI holds a true value, as CI
// systems set it: "true" (GitHub, GitLab), "1", "yes", "on", in any case.
func CI() bool { return truthy(os.Getenv("CI")) }

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "y", "yes", "on":
		return true
	}
	return false
}

// Require returns the path of the named program. When it is not on PATH the
// test fails if CI is set to a true value, and is skipped otherwise.
func Require(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if CI() {
			t.Fatalf("%s is required in CI but not found on PATH (install it, e.g. apt-get install -y %s): %v", name, name, err)
		}
		t.Skipf("%s not found on PATH; skipping (CI set to a true value makes this a failure): %v", name, err)
	}
	return p
}

// RequireFile returns path when it names an existing file. When it does not
// the test fails if CI is set to a true value, and is skipped otherwise;
// how says how to get the file.
func RequireFile(t testing.TB, path, how string) string {
	t.Helper()
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		if CI() {
			t.Fatalf("%s is required in CI but missing (%s)", path, how)
		}
		t.Skipf("%s missing; skipping (CI set to a true value makes this a failure; %s)", path, how)
	}
	return path
}
