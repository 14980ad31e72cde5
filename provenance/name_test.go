package provenance

import (
	"strings"
	"testing"
)

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000/library/debian:12":                                 "library/debian",
		"docker://registry.example/ubi9@sha256:" + strings.Repeat("a", 64): "ubi9",
		"debian:12":                      "debian",
		"oci:/images/base-os:1.0":        "base-os",
		"docker-archive:/tmp/python.tar": "python.tar",
	} {
		if got := DefaultName(in); got != want {
			t.Errorf("DefaultName(%q) = %q, want %q", in, got, want)
		}
	}
}
