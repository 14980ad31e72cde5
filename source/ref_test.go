package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/content"
)

func TestParseReference(t *testing.T) {
	cases := []struct {
		in   string
		want Reference
		err  bool
	}{
		{"alpine", Reference{Transport: "docker", Path: "alpine"}, false},
		{"localhost:5000/app:1.0", Reference{Transport: "docker", Path: "localhost:5000/app:1.0"}, false},
		{"docker://ghcr.io/a/b@sha256:abc", Reference{Transport: "docker", Path: "ghcr.io/a/b@sha256:abc"}, false},
		{"docker-archive:img.tar", Reference{Transport: "docker-archive", Path: "img.tar"}, false},
		{"docker-archive:img.tar:busybox:latest", Reference{Transport: "docker-archive", Path: "img.tar", Ref: "busybox:latest"}, false},
		{"docker-archive:img.tar:@1", Reference{Transport: "docker-archive", Path: "img.tar", Ref: "@1"}, false},
		{"oci:./layout:v1", Reference{Transport: "oci", Path: "./layout", Ref: "v1"}, false},
		{"oci-archive:/tmp/x.tar", Reference{Transport: "oci-archive", Path: "/tmp/x.tar"}, false},
		{"dir:/tmp/copy:with:colons", Reference{Transport: "dir", Path: "/tmp/copy:with:colons"}, false},
		{"", Reference{}, true},
		{"docker://", Reference{}, true},
		{"oci:", Reference{}, true},
		{"docker-daemon:alpine:latest", Reference{Transport: "docker-daemon", Path: "alpine:latest"}, false},
		{"podman:sha256:0123", Reference{Transport: "podman", Path: "sha256:0123"}, false},
		{"containerd:docker.io/library/alpine:3.20", Reference{Transport: "containerd", Path: "docker.io/library/alpine:3.20"}, false},
		{"containerd:", Reference{}, true},
		{"alpine:3.20", Reference{Transport: "docker", Path: "alpine:3.20"}, false},
		{"alpine@sha256:0123456789012345678901234567890123456789012345678901234567890123", Reference{Transport: "docker", Path: "alpine@sha256:0123456789012345678901234567890123456789012345678901234567890123"}, false},
		{"docker://ocii:foo", Reference{Transport: "docker", Path: "ocii:foo"}, false},
		{"ocii:foo", Reference{}, true},
		{"podmn:app", Reference{}, true},
		{"foo:/some/path", Reference{}, true},
		{"containers-storage:[vfs@/r+/run]app:1", Reference{Transport: "containers-storage", Path: "[vfs@/r+/run]app:1"}, false},
		{"Upper/Case", Reference{}, true},
		{"docker:alpine", Reference{}, true},
	}
	for _, c := range cases {
		got, err := ParseReference(c.in)
		if c.err {
			if !errors.Is(err, content.ErrBadReference) {
				t.Errorf("ParseReference(%q) err = %v, want ErrBadReference", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseReference(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"alpine", "oci:a:b", "docker-archive:x:y:z", "docker://h/r@sha256:0", "ocii:foo",
		"localhost:5000/a:b", "containers-storage:[vfs@/r+/s]a", "a@sha256:00", "./x.tar"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err == nil && r.Transport == "" {
			t.Fatalf("no transport for %q", s)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error for %q: %v", s, err)
		}
	})
}

// TestBareArguments: an existing path wins over every other reading; a
// path-shaped missing argument is a local error; the rest is a registry.
func TestBareArguments(t *testing.T) {
	dir := t.TempDir()
	tarball := filepath.Join(dir, "alpine")
	os.WriteFile(tarball, []byte("x"), 0o644)
	t.Chdir(dir)
	cases := []struct {
		in        string
		transport string
		err       error
	}{
		{"alpine", TransportLocal, nil}, // a file named alpine in the working directory
		{tarball, TransportLocal, nil},
		{"busybox", TransportRegistry, nil},
		{"./busybox", "", fs.ErrNotExist},
		{"busybox.tar.gz", "", fs.ErrNotExist},
		{"../x/y", "", fs.ErrNotExist},
		{"localhost:5000/app", TransportRegistry, nil},
		{"ocii:foo", "", ErrUnknownTransport},
		{"contaienrd:app", "", ErrUnknownTransport},
	}
	for _, c := range cases {
		r, err := ParseReference(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ParseReference(%q) = %+v, %v; want %v", c.in, r, err, c.err)
			}
			continue
		}
		if err != nil || r.Transport != c.transport {
			t.Errorf("ParseReference(%q) = %+v, %v; want transport %s", c.in, r, err, c.transport)
		}
	}
}
