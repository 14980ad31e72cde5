package secret

import "testing"

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"AWS_SECRET_ACCESS_KEY": true, "npm_token": true, "DB_PASSWORD": true, "GITHUB_AUTH": true,
		"HTTP_PROXY": false, "VERSION": false, "BUILD_DATE": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}
