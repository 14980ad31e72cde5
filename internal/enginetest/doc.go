// Package enginetest starts real container engines for tests, each in a
// temporary directory with its own socket and no privileges beyond what
// the engine itself needs: Podman's API service (vfs storage) and a
// containerd daemon. Images are loaded with the engines' own tools
// (podman load, ctr images import). A missing tool fails the test in CI
// and skips it elsewhere (internal/testtool).
package enginetest
