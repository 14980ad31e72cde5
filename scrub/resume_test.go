package scrub_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/scrub"
	"github.com/stratascan/strata/source"
)

// TestMountSignaturesResume, on embedded distribution v3: a push to
// another repository mounts the untouched blobs and uploads only the
// rewritten ones; a cosign signature of the old digest is listed as
// dropped; a replace interrupted before its push is finished by
// ResumeReplace from the journal.
func TestMountSignaturesResume(t *testing.T) {
	ctx := testCtx(t)
	reg := registrytest.NewEmbedded(t, registrytest.Options{Auth: true})
	repo := reg.Repo(t, ctx, "acme/app")
	old, _ := registrytest.PushFixture(t, ctx, repo, "v1", leakyImage(t))
	sig, _ := registrytest.PushImage(t, ctx, repo, "sha256-"+old.Digest.Hex()+".sig", "", "", []byte("not really a signature"))

	plan := func(ref string) *scrub.Plan {
		st, err := reg.Client(t).Open(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		root, err := source.Load(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := scrub.NewPlan(ctx, st, root, scrub.Options{Selectors: scrub.Selectors{Paths: []string{"/app/.env"}, Env: []string{"GITHUB_TOKEN"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	p := plan(reg.Ref("acme/app", ":v1"))
	applied, err := p.Apply(ctx, scrub.Destination{Ref: reg.Ref("acme/clean", ":v1"), Client: reg.Client(t), Insecure: true, MountFrom: "acme/app"})
	if err != nil {
		t.Fatal(err)
	}
	if st := applied.Push; st == nil || st.Mounted != 2 || st.Uploaded != 3 {
		t.Fatalf("push %+v: want the 2 untouched layers mounted, 2 layers and the config uploaded", applied.Push)
	}

	if err := scrub.PlanReplace(ctx, p, repo, nil); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range p.Dropped {
		found = found || d.Digest == sig.Digest && d.Kind == "cosign.sig" && d.For == old.Digest
	}
	if !found {
		t.Fatalf("dropped %+v: want the cosign signature %s", p.Dropped, sig.Digest)
	}
	journal := filepath.Join(t.TempDir(), "scrub.jsonl")
	cut, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := scrub.Replace(cut, p, repo, scrub.ReplaceOptions{Yes: true, Journal: journal, Selectors: p.Selectors()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replace: %v", err)
	}
	if d, _ := repo.HeadManifest(ctx, "v1"); d.Digest != old.Digest {
		t.Fatalf("v1 moved to %s before the resume", d.Digest)
	}
	rj, err := scrub.ReadReplaceJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	again := plan(rj.Replace.Repository + "@" + string(rj.Replace.OldDigest))
	res, err := scrub.ResumeReplace(ctx, rj, again, repo, scrub.ReplaceOptions{Journal: journal})
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, handOff(res))
	}
	if d, _ := repo.HeadManifest(ctx, "v1"); d.Digest != p.NewRoot.Digest {
		t.Fatalf("v1 is %s after the resume, want %s", d.Digest, p.NewRoot.Digest)
	}
	for _, d := range []image.Digest{old.Digest, sig.Digest} {
		if _, err := repo.HeadManifest(ctx, string(d)); !errors.Is(err, content.ErrNotFound) {
			t.Errorf("old manifest %s: %v, want not found", d, err)
		}
	}
}
