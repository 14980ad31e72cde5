package source

import "testing"

func TestRepositoryOf(t *testing.T) {
	for in, want := range map[string]string{
		"reg:5000/app:1.0":                 "reg:5000/app",
		"reg:5000/app":                     "reg:5000/app",
		"reg/team/app@sha256:abc":          "reg/team/app",
		"reg:5000/team/app:1.0@sha256:abc": "reg:5000/team/app",
		"alpine":                           "alpine",
	} {
		if got := RepositoryOf(in); got != want {
			t.Errorf("RepositoryOf(%q) = %q, want %q", in, got, want)
		}
	}
}
