package registry

import "testing"

func TestSameSite(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"index.docker.io", "auth.docker.io", true},
		{"registry.gitlab.com", "gitlab.com", true},
		{"ghcr.io", "ghcr.io", true},
		{"127.0.0.1", "localhost", true},
		{"::1", "127.0.0.1", true},
		{"registry.example.com", "auth.example.net", false},
		{"evil.github.io", "other.github.io", false}, // github.io is a public suffix
		{"10.0.0.1", "10.0.0.2", false},
		{"10.0.0.1", "example.com", false},
	} {
		if got := sameSite(c.a, c.b); got != c.want {
			t.Errorf("sameSite(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
