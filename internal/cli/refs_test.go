package cli

import (
	"archive/tar"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stratascan/strata/internal/registrytest"
)

// countDials makes every connection attempt through http.DefaultTransport
// (which registry clients clone) count, so a test can prove that a command
// made no network request at all. Not for parallel tests.
func countDials(t *testing.T) *atomic.Int64 {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport)
	orig := tr.DialContext
	var n atomic.Int64
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return orig(ctx, network, addr)
	}
	t.Cleanup(func() { tr.DialContext = orig })
	return &n
}

// TestMistakenReferences: every way a user can point strata at the wrong
// thing ends in one line saying what is wrong, exit code 2, and, for local
// paths, no network request.
func TestMistakenReferences(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.tar")
	writeRootfsTar(t, rootfs)
	notImage := filepath.Join(dir, "empty-dir")
	if err := os.Mkdir(notImage, 0o755); err != nil {
		t.Fatal(err)
	}
	textFile := filepath.Join(dir, "notes.txt")
	os.WriteFile(textFile, []byte("not an image\n"), 0o644)
	tlsReg := registrytest.NewEmbedded(t, registrytest.Options{TLS: true})
	plainReg := registrytest.NewEmbedded(t, registrytest.Options{})
	dials := countDials(t)

	cases := []struct {
		name, ref string
		local     bool     // must not touch the network
		want      []string // substrings of the error line
	}{
		{"missing absolute path", "/nonexistent", true, []string{"/nonexistent: no such file or directory"}},
		{"missing relative tarball", "./image.tar", true, []string{"./image.tar: no such file or directory"}},
		{"missing bare tarball", "image.tar", true, []string{"image.tar: no such file or directory"}},
		{"typo'd transport", "ocii:foo", true, []string{`unknown transport "ocii"`, "did you mean oci?", "known transports: docker://, docker-archive, oci"}},
		{"typo'd engine transport", "docker-deamon:app", true, []string{"did you mean docker-daemon?"}},
		{"transport with a path", "layout:/tmp/x", true, []string{`unknown transport "layout"`}},
		{"plain rootfs tarball", rootfs, true, []string{"root filesystem tarball, not an image"}},
		{"directory that is not an image", notImage, true, []string{"not an image", "no oci-layout, index.json or manifest.json"}},
		{"text file", textFile, true, []string{"not an image", "is not a tar archive"}},
		{"explicit oci: missing", "oci:/nonexistent", true, []string{"/nonexistent"}},
		{"refused port", "localhost:1/foo:bar", false, []string{"connect to localhost:1: connection refused", "check the host and port"}},
		{"DNS failure", "nosuch.invalid/foo:bar", false, []string{"connect to nosuch.invalid: host name does not resolve", "check the host name"}},
		{"TLS mismatch", tlsReg.Host + "/team/app:v1", false, []string{"TLS handshake failed", "--ca-file"}},
		{"plain HTTP without --insecure", plainReg.Host + "/team/app:v1", false, []string{"plain HTTP", "pass --insecure"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := dials.Load()
			out, errs, code := run(t, "", "ls", c.ref)
			if code != ExitError {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, ExitError, out, errs)
			}
			line := strings.TrimSpace(errs)
			if strings.Contains(line, "\n") {
				t.Errorf("error is not one line:\n%s", errs)
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q lacks %q", line, w)
				}
			}
			for _, bad := range []string{"Options.", "index.docker.io"} {
				if strings.Contains(line, bad) {
					t.Errorf("error %q mentions %q", line, bad)
				}
			}
			if n := dials.Load() - before; c.local && n != 0 {
				t.Errorf("%d connection attempts for a local reference", n)
			} else if !c.local && !strings.HasPrefix(c.ref, "localhost:1/") && n == 0 {
				t.Errorf("no connection attempt counted for a network reference: the no-network check would prove nothing")
			}
		})
	}
	// Control: with --insecure the plain-HTTP registry is reached (and
	// answers not found, a different error).
	_, errs, _ := run(t, "", "ls", "--insecure", plainReg.Host+"/team/app:v1")
	if strings.Contains(errs, "plain HTTP") {
		t.Errorf("--insecure still refused: %s", errs)
	}
}

// writeRootfsTar writes a root filesystem tarball (what `docker export`
// makes): files, no image metadata.
func writeRootfsTar(t *testing.T, p string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, name := range []string{"etc/", "etc/passwd", "bin/"} {
		h := &tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}
		body := ""
		if !strings.HasSuffix(name, "/") {
			body = "root:x:0:0::/root:/bin/sh\n"
			h = &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
