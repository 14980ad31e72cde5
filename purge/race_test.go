package purge_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/purge"
)

// TestPurgeRace is issue 9's purge race, end to end against the Debian
// docker-registry 2.8 and embedded distribution v3: while `purge` of
// debug-42 runs, another client pushes debug-43, an image built on the
// leaked layer. A proxy in front of the registry holds one of the purge's
// DELETEs until that push has landed, so the interleaving is the same every
// run:
//
//   - "before the blob deletes": the DELETE of the target's tag is held;
//     the check before the blob deletes sees debug-43 and keeps the layer;
//   - "between the last check and a DELETE": the DELETE of the leaked
//     layer itself is held (the residual window); the check after the
//     deletes sees debug-43 and uploads the layer back.
//
// Either way debug-43 still pulls completely (the strata client and
// skopeo), the result names the blob and the tag, and the verdict is
// "changed", never "clean".
func TestPurgeRace(t *testing.T) {
	for _, kind := range []struct {
		name  string
		start func(testing.TB, registrytest.Options) *registrytest.Registry
	}{{"debian-2.8", registrytest.StartDebian}, {"embedded-v3", registrytest.NewEmbedded}} {
		t.Run(kind.name, func(t *testing.T) {
			reg := kind.start(t, registrytest.Options{})
			for i, c := range []struct {
				name    string
				holdOn  func(f *repoFixture) string // path suffix of the DELETE to hold
				outcome string
			}{
				{"before the blob deletes", func(*repoFixture) string { return "/manifests/debug-42" }, purge.OutcomeInUse},
				{"between the last check and a DELETE", func(f *repoFixture) string { return "/blobs/" + string(f.secretL) }, purge.OutcomeRestored},
			} {
				t.Run(c.name, func(t *testing.T) {
					raceCase(t, reg, "race"+string(rune('a'+i))+"/app", c.holdOn, c.outcome)
				})
			}
		})
	}
}

func raceCase(t *testing.T, reg *registrytest.Registry, name string, holdOn func(*repoFixture) string, outcome string) {
	ctx := testCtx(t)
	f := pushIssueRepo(t, ctx, reg, name)
	// debug-43 is built FROM debug-42: it shares the leaked layer and adds
	// its own.
	reuse := fixture.Build(t, fixture.Image{Layers: layers(app11, secret, fixture.Layer{Files: []fixture.File{{Path: "etc/motd", Body: []byte("debug 43\n")}}})})
	hold := holdOn(f)
	var once sync.Once
	pushed := make(chan struct{})
	px := reg.Proxy(t, registrytest.ProxyOptions{OnRequest: func(req *http.Request) {
		if req.Method != http.MethodDelete || !strings.HasSuffix(req.URL.Path, hold) {
			return
		}
		once.Do(func() {
			// Another client, straight to the registry.
			go func() {
				defer close(pushed)
				pushBuilt(t, ctx, f.repo, reuse, "debug-43")
			}()
			select {
			case <-pushed:
			case <-req.Context().Done():
			}
		})
	}})
	through := px.Registry.Repo(t, ctx, name)
	inv, err := purge.Take(ctx, through, f.name, purge.InventoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := purge.NewPlan(inv, purge.Options{Targets: []string{"debug-42"}})
	if err != nil || p.Refused() {
		t.Fatalf("plan: %v %v", err, p.Refusals)
	}
	if !slices.ContainsFunc(p.DeleteBlobs, func(b purge.BlobAction) bool { return b.Digest == f.secretL }) {
		t.Fatalf("the plan does not delete the leaked layer: %+v", p.DeleteBlobs)
	}
	res, err := purge.Apply(ctx, through, p, purge.ApplyOptions{Settle: quietSettle, Inventory: inv})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	select {
	case <-pushed:
	default:
		t.Fatalf("the held DELETE never came: the push did not happen during the purge")
	}
	if len(res.InUse) != 1 || res.InUse[0].Digest != f.secretL || res.InUse[0].Outcome != outcome || !slices.Equal(res.InUse[0].Tags, []string{"debug-43"}) {
		t.Errorf("result in-use %+v, want the leaked layer %s %s for debug-43", res.InUse, f.secretL, outcome)
	}
	rep, err := purge.Verify(ctx, f.repo, p, res, purge.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != purge.VerdictChanged || !slices.Contains(rep.NewTags, "debug-43") ||
		!slices.ContainsFunc(rep.Changed, func(s string) bool { return strings.Contains(s, string(f.secretL)) && strings.Contains(s, "debug-43") }) {
		t.Errorf("verdict %s, new tags %v, changed %v, problems %v: want changed naming debug-43 and the leaked layer", rep.Verdict, rep.NewTags, rep.Changed, rep.Problems)
	}
	if h := purge.HandOff(p, res, rep); !strings.Contains(h, "CHANGED DURING THE PURGE") || !strings.Contains(h, "debug-43") {
		t.Errorf("hand-off does not say what changed:\n%s", h)
	}
	// The new tag pulls completely, with the strata client and with skopeo.
	want := image.FromBytes(reuse.ManifestBytes)
	assertPullable(t, ctx, f.repo, "debug-43", want)
	if d := skopeoPull(t, ctx, reg, name+":debug-43"); d != want {
		t.Errorf("skopeo pulled debug-43 as %s, want %s", d, want)
	}
	// The rest of the purge happened.
	assertManifestGone(t, ctx, f.repo, f.tags["debug-42"])
	assertBlobGone(t, ctx, f.repo, f.debug.Config.Digest)
	for _, tag := range []string{"latest", "v1.0.0", "v1.1.0", "stable"} {
		assertPullable(t, ctx, f.repo, tag, f.tags[tag])
	}
	t.Logf("proxy saw %v; writer checks %d requests; verify %d requests", px.Counts(), res.CheckRequests, rep.Requests)
}

// TestUntaggedReferrers is issue 9 item 14 end to end: debug-42 and latest
// each have a signature that no tag reaches, found only through the
// referrers API (served by the proxy: distribution has none); both use the
// empty config "{}". Purging debug-42 deletes its signature and payload but
// keeps the empty config, whose only other user is latest's untagged
// signature, and that signature stays retrievable. Debian 2.8 and v3.
func TestUntaggedReferrers(t *testing.T) {
	for _, kind := range []struct {
		name  string
		start func(testing.TB, registrytest.Options) *registrytest.Registry
	}{{"debian-2.8", registrytest.StartDebian}, {"embedded-v3", registrytest.NewEmbedded}} {
		t.Run(kind.name, func(t *testing.T) {
			ctx := testCtx(t)
			px := kind.start(t, registrytest.Options{}).Proxy(t, registrytest.ProxyOptions{Referrers: true})
			f := pushIssueRepo(t, ctx, px.Registry, "acme/signed")
			sigDebug := pushArtifact(t, ctx, f.repo, "", "signature of debug-42", f.tags["debug-42"])
			sigLatest := pushArtifact(t, ctx, f.repo, "", "signature of latest", f.tags["latest"])
			empty := image.FromBytes([]byte("{}"))
			p := takePlan(t, ctx, f, purge.Options{Targets: []string{"debug-42"}})
			if p.Refused() || !p.Inventory.ReferrersAPI {
				t.Fatalf("plan refused (%v) or referrers API not seen (%v)", p.Refusals, p.Inventory.ReferrersAPI)
			}
			if !slices.ContainsFunc(p.DeleteManifests, func(m purge.ManifestAction) bool { return m.Digest == sigDebug.Digest && m.Role == "referrer" }) {
				t.Errorf("debug-42's signature is not deleted: %+v", p.DeleteManifests)
			}
			if !slices.ContainsFunc(p.KeptBlobs, func(k purge.Kept) bool {
				return k.Digest == empty && slices.Equal(k.Manifests, []image.Digest{sigLatest.Digest}) && slices.Equal(k.Tags, []string{"latest", "v1.1.0"})
			}) {
				t.Errorf("the empty config is not kept for latest's untagged signature: kept %+v", p.KeptBlobs)
			}
			if slices.ContainsFunc(p.DeleteBlobs, func(b purge.BlobAction) bool { return b.Digest == empty }) {
				t.Fatalf("the plan deletes the empty config that latest's signature uses")
			}
			res, err := purge.Apply(ctx, f.repo, p, purge.ApplyOptions{Settle: quietSettle})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			rep, err := purge.Verify(ctx, f.repo, p, res, purge.VerifyOptions{})
			if err != nil || rep.Verdict != purge.VerdictClean {
				t.Fatalf("verify: %v %s %v", err, rep.Verdict, rep.Problems)
			}
			assertManifestGone(t, ctx, f.repo, sigDebug.Digest)
			assertBlobGone(t, ctx, f.repo, image.FromBytes([]byte("signature of debug-42")))
			assertPullable(t, ctx, f.repo, string(sigLatest.Digest), sigLatest.Digest)
			refs, viaAPI, err := f.repo.Referrers(ctx, f.tags["latest"], "")
			if err != nil || !viaAPI || len(refs) != 1 || refs[0].Digest != sigLatest.Digest {
				t.Errorf("referrers of latest after the purge: %v %v %+v", err, viaAPI, refs)
			}
		})
	}
}
