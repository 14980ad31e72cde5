package registry_test

import (
	"context"
	"io"
	"testing"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/source"
)

// TestSchema1: a real signed schema 1 manifest (distribution 2.8 converts a
// schema 2 image for an Accept list without v2 types and signs it), pushed
// back and stored, is served with its own media type; the client's digest
// is the signed payload's, equal to the registry's Docker-Content-Digest,
// by tag and by digest; source.Load walks it through the Store.
func TestSchema1(t *testing.T) {
	ctx := context.Background()
	r := registrytest.StartDebian(t, registrytest.Options{Schema1: true, TLS: true, Auth: true})
	repo := r.Repo(t, ctx, "old/app")
	img := fixture.Image{DockerMediaTypes: true, Layers: []fixture.Layer{
		{Files: []fixture.File{{Path: "etc/base", Body: []byte("base\n")}}, CreatedBy: "ADD base /"},
		{Files: []fixture.File{{Path: "app/secret", Body: []byte("token=abc\n")}}, CreatedBy: "COPY secret /app/"},
	}}
	registrytest.PushFixture(t, ctx, repo, "v2", img)
	raw, regDigest := registrytest.FetchSchema1(t, ctx, r, "old/app", "v2")
	if image.FromBytes(raw) == regDigest {
		t.Fatalf("registry digest %s is the body's: expected the signed payload's", regDigest)
	}
	d := registrytest.PushManifest(t, ctx, repo, "s1", image.MediaTypeSchema1Signed, raw)
	if d.Digest != regDigest {
		t.Fatalf("PutManifest digest %s, registry says %s", d.Digest, regDigest)
	}
	for _, ref := range []string{"s1", string(regDigest)} {
		hd, err := repo.HeadManifest(ctx, ref)
		if err != nil {
			t.Fatalf("HEAD %s: %v", ref, err)
		}
		gd, body, err := repo.GetManifest(ctx, ref)
		if err != nil {
			t.Fatalf("GET %s: %v", ref, err)
		}
		for _, x := range []image.Descriptor{hd, gd} {
			if x.MediaType != image.MediaTypeSchema1Signed || x.Digest != regDigest {
				t.Fatalf("%s: %s %s, want signed schema 1 %s", ref, x.MediaType, x.Digest, regDigest)
			}
		}
		// The registry may serve other signatures over the same payload: the
		// payload, not the body, is what the digest names.
		p1, _ := image.Schema1Payload(body)
		p2, _ := image.Schema1Payload(raw)
		if string(p1) != string(p2) {
			t.Fatalf("%s: signed payload differs from what was pushed", ref)
		}
		if string(body) != string(raw) {
			t.Logf("%s: served body differs from the pushed one (re-signed), same payload", ref)
		}
	}
	st, err := r.Client(t).Open(ctx, r.Ref("old/app", ":s1"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := source.Load(ctx, st, nil)
	if err != nil {
		t.Fatalf("source.Load of a schema 1 image: %v", err)
	}
	imgs, err := source.Select(root, nil, false)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("Select: %v %v", imgs, err)
	}
	var n int
	for _, l := range imgs[0].Layers {
		rc, err := st.Open(ctx, l.Descriptor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, content.Verify(rc, l.Descriptor, "layer")); err != nil {
			t.Fatalf("layer %s: %v", l.Descriptor.Digest, err)
		}
		rc.Close()
		n++
	}
	if n != 2 {
		t.Fatalf("%d layers, want 2 (throwaway layers dropped)", n)
	}
}
