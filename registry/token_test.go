package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/registry"
)

// TestBearerToken: the Docker token flow against distribution v3 and 2.8
// configured for token auth. Reads ask only for pull scope; the first write
// asks for pull,push,delete; a pull-only account reads but cannot write or
// delete (ErrUnauthorized); anonymous and wrong-password token requests
// are ErrUnauthorized.
func TestBearerToken(t *testing.T) {
	ctx := context.Background()
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := start(t, kind, registrytest.Options{Token: true})
			scopes := func(from int) string {
				var s []string
				for _, q := range r.TokenRequests()[from:] {
					s = append(s, strings.Join(q.Scopes, " "))
				}
				return strings.Join(s, " | ")
			}

			// Full account: read first, then write.
			c := newClient(t, r.ClientOptions())
			repo, err := c.Repo(ctx, r.Host+"/tok/app")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Tags(ctx); err == nil {
				t.Fatal("tags of an empty registry: want ErrNotFound")
			}
			if got := scopes(0); got != "repository:tok/app:pull" {
				t.Fatalf("read scopes %q, want only pull", got)
			}
			n := len(r.TokenRequests())
			m, _ := registrytest.PushImage(t, ctx, repo, "v1", "", "", []byte("token layer"))
			if got := scopes(n); got != "repository:tok/app:pull,push,delete" {
				t.Fatalf("write scopes %q, want one pull,push,delete request", got)
			}

			// Reader: can read, cannot write or delete.
			o := r.ClientOptions()
			o.Username, o.Password = r.ReaderUsername, r.ReaderPassword
			ro, err := newClient(t, o).Repo(ctx, r.Host+"/tok/app")
			if err != nil {
				t.Fatal(err)
			}
			if d, err := ro.HeadManifest(ctx, "v1"); err != nil || d.Digest != m.Digest {
				t.Fatalf("reader HEAD: %v %v", d, err)
			}
			if _, err := ro.PutManifest(ctx, "v2", m.MediaType, mustGet(t, ro, "v1")); !errors.Is(err, registry.ErrUnauthorized) {
				t.Fatalf("reader push: %v, want ErrUnauthorized", err)
			}
			if err := ro.DeleteManifest(ctx, string(m.Digest)); !errors.Is(err, registry.ErrUnauthorized) {
				t.Fatalf("reader delete: %v, want ErrUnauthorized", err)
			}
			if _, err := repo.HeadManifest(ctx, string(m.Digest)); err != nil {
				t.Fatalf("manifest gone after a refused delete: %v", err)
			}

			// Anonymous and wrong password: refused by the token server.
			for name, f := range map[string]func(o *registry.Options){
				"anonymous":      func(o *registry.Options) { o.Username, o.Password = "", "" },
				"wrong password": func(o *registry.Options) { o.Password = "nope" },
			} {
				o := r.ClientOptions()
				f(&o)
				_, err := newClient(t, o).Repo(ctx, r.Host+"/tok/app")
				if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), "docker login") {
					t.Fatalf("%s: %v, want ErrUnauthorized with advice", name, err)
				}
			}

			// Catalog needs registry:catalog:*; the full account gets it.
			cat, err := c.Catalog(ctx, r.Host)
			if err != nil || len(cat) != 1 || cat[0] != "tok/app" {
				t.Fatalf("catalog %v %v", cat, err)
			}
			_ = image.Descriptor{}
		})
	}
}
