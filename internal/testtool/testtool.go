// Package testtool helps tests that need external programs (skopeo, umoci,
// docker-registry): a missing tool fails the test in CI (CI=true) and skips
// it elsewhere.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of the named program. When it is not on PATH the
// test fails if the environment variable CI is "true", and is skipped
// otherwise.
func Require(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI but not found on PATH (install it, e.g. apt-get install -y %s): %v", name, name, err)
		}
		t.Skipf("%s not found on PATH; skipping (CI=true makes this a failure): %v", name, err)
	}
	return p
}
