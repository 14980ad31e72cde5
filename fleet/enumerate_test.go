package fleet

import "testing"

func TestReferrersTag(t *testing.T) {
	for tag, want := range map[string]bool{
		"sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef":     true, // OCI referrers fallback index
		"sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig": true, // cosign signature
		"sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.att": true,
		"latest":           false,
		"v1.2.3":           false,
		"sha256-short":     false,
		"build-2024-01-02": false,
		"main-0123456789abcdef0123456789abcdef01234567": false, // a CI tag of a commit: an image
		"sha-0123456789abcdef0123456789abcdef01234567":  false,
	} {
		if got := referrersTag.MatchString(tag); got != want {
			t.Errorf("%s: %v, want %v", tag, got, want)
		}
	}
}
