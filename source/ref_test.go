package source

import (
	"errors"
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
		{"docker-daemon:alpine:latest", Reference{}, true},
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
	for _, s := range []string{"alpine", "oci:a:b", "docker-archive:x:y:z", "docker://h/r@sha256:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err == nil && r.Transport == "" {
			t.Fatalf("no transport for %q", s)
		}
	})
}
