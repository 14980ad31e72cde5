package web

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseEnvelope: any body either fails with ErrEnvelope or parses,
// and every event of a parsed one classifies without panicking; an event
// taken as a manifest push names a registry, a repository and a digest.
func FuzzParseEnvelope(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "hook", "*", "*.json"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"events":[]}`))
	f.Add([]byte(`{"events":null}`))
	f.Add([]byte(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:zz"}}]} x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		for _, e := range env.Events {
			p, ok, err := e.ManifestPush()
			if err != nil && ok {
				t.Fatalf("event both usable and in error: %v", err)
			}
			if ok && (p.Registry == "" || p.Repository == "" || p.Manifest.Verifiable() != nil) {
				t.Fatalf("usable push with missing parts: %+v", p)
			}
		}
	})
}
