package purge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/registry"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestEndToEnd is the issue's acceptance test: purge debug-42, garbage
// collect with --delete-untagged, restart; debug-42's manifest, config and
// secret layer are gone by digest and every other tag pulls completely with
// skopeo, digests unchanged. Against the Debian docker-registry 2.8 (TLS,
// htpasswd, in-memory blob descriptor cache as packaged; tag DELETE answers
// 400) and embedded distribution v3.
func TestEndToEnd(t *testing.T) {
	for _, c := range []struct {
		name        string
		start       func(testing.TB, registrytest.Options) *registrytest.Registry
		placeholder bool
		wantTagVia  string
	}{
		{"debian-2.8", registrytest.StartDebian, false, purge.OutcomeViaDigest},
		{"debian-2.8-placeholder", registrytest.StartDebian, true, purge.OutcomePlaceholder},
		{"embedded-v3", registrytest.NewEmbedded, false, purge.OutcomeDeleted},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			reg := c.start(t, registrytest.Options{Auth: true, TLS: true, BlobDescriptorCache: true})
			f := pushIssueRepo(t, ctx, reg, "acme/search-indexer")
			p := takePlan(t, ctx, f, purge.Options{Targets: []string{"debug-42"}})
			if p.Refused() {
				t.Fatalf("plan refused: %v", p.Refusals)
			}
			wantBlobs := []image.Digest{f.debug.Config.Digest, f.secretL}
			slices.Sort(wantBlobs)
			var got []image.Digest
			for _, b := range p.DeleteBlobs {
				got = append(got, b.Digest)
			}
			if !slices.Equal(got, wantBlobs) {
				t.Fatalf("plan deletes blobs %v, want config and secret %v", got, wantBlobs)
			}
			if !slices.Equal(p.LeakedLayers, []image.Digest{f.secretL}) {
				t.Errorf("leaked layers %v, want the secret layer %s", p.LeakedLayers, f.secretL)
			}
			jpath := filepath.Join(t.TempDir(), "purge.jsonl")
			j, err := purge.CreateJournal(jpath)
			if err != nil {
				t.Fatal(err)
			}
			res, err := purge.Apply(ctx, f.repo, p, purge.ApplyOptions{Settle: quietSettle, Journal: j, UntagViaPlaceholder: c.placeholder})
			j.Close()
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			for _, s := range res.Steps {
				if s.Op == "delete-tag" && s.Outcome != c.wantTagVia {
					t.Errorf("tag step outcome %q, want %q", s.Outcome, c.wantTagVia)
				}
			}
			rep, err := purge.Verify(ctx, f.repo, p, res, purge.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != purge.VerdictClean {
				t.Fatalf("verdict %s: %v", rep.Verdict, rep.Problems)
			}
			// The journal replays to every step done.
			jf, _ := os.Open(jpath)
			rp, err := purge.ReadJournal(jf)
			jf.Close()
			if err != nil || len(rp.Done) != len(p.Steps()) || len(rp.Started) != 0 {
				t.Errorf("journal: %v, %d done, %d started, want %d done", err, len(rp.Done), len(rp.Started), len(p.Steps()))
			}

			out := reg.GarbageCollect(t, true, false)
			t.Logf("gc: %d bytes of output", len(out))
			assertManifestGone(t, ctx, f.repo, f.tags["debug-42"])
			assertBlobGone(t, ctx, f.repo, f.debug.Config.Digest)
			assertBlobGone(t, ctx, f.repo, f.secretL)
			if _, err := f.repo.HeadManifest(ctx, "debug-42"); err == nil {
				t.Errorf("tag debug-42 still resolves")
			}
			for _, tag := range []string{"latest", "v1.0.0", "v1.1.0", "stable"} {
				if d := skopeoPull(t, ctx, reg, "acme/search-indexer:"+tag); d != f.tags[tag] {
					t.Errorf("skopeo pulled %s as %s, want %s", tag, d, f.tags[tag])
				}
			}
		})
	}
}

// TestCases runs the issue's special cases against embedded distribution v3
// and the Debian docker-registry 2.8 (tag DELETE 400: tags go with their
// digests).
func TestCases(t *testing.T) {
	ctx := testCtx(t)
	type check func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan)
	cases := []struct {
		name        string
		setup       func(t *testing.T, f *repoFixture) map[string]image.Digest
		opts        purge.Options
		wantRefused bool
		check       check
		// v3Only: distribution 2.8 cannot store the setup (an index listing
		// blobs: BuildKit's index-form cache).
		v3Only bool
	}{{
		name: "shared config blob",
		setup: func(t *testing.T, f *repoFixture) map[string]image.Digest {
			// debug-shared reuses v1.1.0's config blob.
			m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: f.v11.Config}
			for _, l := range f.debug.Layers {
				m.Layers = append(m.Layers, l.Descriptor())
			}
			raw, _ := json.Marshal(m)
			d := registrytest.PushManifest(t, ctx, f.repo, "debug-shared", image.MediaTypeOCIManifest, raw)
			return map[string]image.Digest{"debug-shared": d.Digest}
		},
		opts: purge.Options{Targets: []string{"debug-shared"}},
		check: func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan) {
			kept := false
			for _, k := range p.KeptBlobs {
				if k.Digest == f.v11.Config.Digest {
					kept = slices.Contains(k.Tags, "latest") && slices.Contains(k.Tags, "v1.1.0")
				}
			}
			if !kept {
				t.Errorf("shared config not kept for latest, v1.1.0: %+v", p.KeptBlobs)
			}
			// debug-42 shares the secret layer: it leaks too and keeps it.
			if len(p.Sharing) != 1 || p.Sharing[0].Tags[0] != "debug-42" {
				t.Errorf("sharing %+v, want debug-42", p.Sharing)
			}
		},
	}, {
		name:        "other tag on the digest refused",
		setup:       func(t *testing.T, f *repoFixture) map[string]image.Digest { return tagAlias(t, ctx, f, "debug-latest") },
		opts:        purge.Options{Targets: []string{"debug-42"}},
		wantRefused: true,
	}, {
		name:  "other tag on the digest with --also-tags",
		setup: func(t *testing.T, f *repoFixture) map[string]image.Digest { return tagAlias(t, ctx, f, "debug-latest") },
		opts:  purge.Options{Targets: []string{"debug-42"}, AlsoTags: []string{"debug-latest"}},
		check: func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan) {
			if _, err := f.repo.HeadManifest(ctx, "debug-latest"); err == nil {
				t.Errorf("debug-latest still resolves")
			}
			assertBlobGone(t, ctx, f.repo, f.secretL)
		},
	}, {
		name:        "multi-arch index with the leak as one platform refused",
		setup:       func(t *testing.T, f *repoFixture) map[string]image.Digest { return multiArch(t, ctx, f) },
		opts:        purge.Options{Targets: []string{"debug-42"}},
		wantRefused: true,
	}, {
		name:  "multi-arch index deleted whole with --also-tags",
		setup: func(t *testing.T, f *repoFixture) map[string]image.Digest { return multiArch(t, ctx, f) },
		opts:  purge.Options{Targets: []string{"debug-42"}, AlsoTags: []string{"multi"}},
		check: func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan) {
			assertManifestGone(t, ctx, f.repo, extra["multi"])
			assertManifestGone(t, ctx, f.repo, extra["arm"])
			assertBlobGone(t, ctx, f.repo, f.secretL)
		},
	}, {
		name: "signature under the fallback tag and cosign tag",
		setup: func(t *testing.T, f *repoFixture) map[string]image.Digest {
			dbg := f.tags["debug-42"]
			sig := pushArtifact(t, ctx, f.repo, "", "sig payload", dbg)
			fb := pushIndex(t, ctx, f.repo, registry.ReferrersTag(dbg), sig)
			cos := pushArtifact(t, ctx, f.repo, registry.ReferrersTag(dbg)+".sig", "cosign payload", "")
			// A signature of a surviving tag must stay.
			keep := pushArtifact(t, ctx, f.repo, registry.ReferrersTag(f.tags["latest"])+".sig", "latest sig", "")
			return map[string]image.Digest{"sig": sig.Digest, "fallback": fb.Digest, "cosign": cos.Digest, "keep": keep.Digest}
		},
		opts: purge.Options{Targets: []string{"debug-42"}},
		check: func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan) {
			for _, k := range []string{"sig", "fallback", "cosign"} {
				assertManifestGone(t, ctx, f.repo, extra[k])
			}
			if len(p.DeleteTags) != 3 {
				t.Errorf("delete tags %+v, want debug-42, fallback and cosign tags", p.DeleteTags)
			}
			assertPullable(t, ctx, f.repo, registry.ReferrersTag(f.tags["latest"])+".sig", extra["keep"])
		},
	}, {
		name:  "cache tag referencing the leaked layer is reported and kept",
		setup: func(t *testing.T, f *repoFixture) map[string]image.Digest { return cacheTag(t, ctx, f) },
		opts:  purge.Options{Targets: []string{"debug-42"}},
		check: func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan) {
			if len(p.Sharing) != 1 || !slices.Equal(p.Sharing[0].Tags, []string{"buildcache"}) || p.Sharing[0].Kind != image.KindCache {
				t.Errorf("sharing %+v, want the buildcache tag", p.Sharing)
			}
			if !strings.Contains(purge.HandOff(p, nil, nil), "still contain a leaked layer") {
				t.Errorf("hand-off does not warn about the sharing cache")
			}
		},
	}, {
		name:  "cache tag included with --include-sharing",
		setup: func(t *testing.T, f *repoFixture) map[string]image.Digest { return cacheTag(t, ctx, f) },
		opts:  purge.Options{Targets: []string{"debug-42"}, IncludeSharing: true},
		check: func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan) {
			assertManifestGone(t, ctx, f.repo, extra["buildcache"])
			assertBlobGone(t, ctx, f.repo, f.secretL)
		},
	}, {
		name:   "index-form cache tag referencing the leaked layer is reported",
		setup:  func(t *testing.T, f *repoFixture) map[string]image.Digest { return cacheIndexTag(t, ctx, f) },
		opts:   purge.Options{Targets: []string{"debug-42"}},
		v3Only: true,
		check: func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan) {
			if len(p.Sharing) != 1 || !slices.Equal(p.Sharing[0].Tags, []string{"buildcache-index"}) || p.Sharing[0].Kind != image.KindCache {
				t.Errorf("sharing %+v, want the buildcache-index tag", p.Sharing)
			}
			if !slices.ContainsFunc(p.KeptBlobs, func(k purge.Kept) bool { return k.Digest == f.secretL }) {
				t.Errorf("the leaked layer the cache still uses is not kept: %+v", p.KeptBlobs)
			}
		},
	}, {
		name:   "index-form cache tag included with --include-sharing",
		setup:  func(t *testing.T, f *repoFixture) map[string]image.Digest { return cacheIndexTag(t, ctx, f) },
		opts:   purge.Options{Targets: []string{"debug-42"}, IncludeSharing: true},
		v3Only: true,
		check: func(t *testing.T, f *repoFixture, extra map[string]image.Digest, p *purge.Plan) {
			assertManifestGone(t, ctx, f.repo, extra["buildcache-index"])
			assertBlobGone(t, ctx, f.repo, f.secretL)
		},
	}}
	for _, kind := range []struct {
		name  string
		start func(testing.TB, registrytest.Options) *registrytest.Registry
	}{{"embedded-v3", registrytest.NewEmbedded}, {"debian-2.8", registrytest.StartDebian}} {
		t.Run(kind.name, func(t *testing.T) {
			reg := kind.start(t, registrytest.Options{IndexBlobs: true})
			for i, c := range cases {
				if c.v3Only && reg.Kind == "debian" {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					f := pushIssueRepo(t, ctx, reg, "case"+string(rune('a'+i))+"/app")
					extra := c.setup(t, f)
					for k, v := range extra {
						if _, err := f.repo.HeadManifest(ctx, k); err == nil {
							f.tags[k] = v
						}
					}
					before := snapshotTags(t, ctx, f)
					p := takePlan(t, ctx, f, c.opts)
					res, err := purge.Apply(ctx, f.repo, p, purge.ApplyOptions{Settle: quietSettle})
					if c.wantRefused {
						if !errors.Is(err, purge.ErrRefused) || res != nil {
							t.Fatalf("apply: %v, want ErrRefused and nothing done", err)
						}
						if after := snapshotTags(t, ctx, f); !mapsEqual(before, after) {
							t.Errorf("a refused purge changed tags: %v -> %v", before, after)
						}
						return
					}
					if err != nil {
						t.Fatalf("apply: %v", err)
					}
					rep, err := purge.Verify(ctx, f.repo, p, res, purge.VerifyOptions{})
					if err != nil || rep.Verdict != purge.VerdictClean {
						t.Fatalf("verify: %v %s %v", err, rep.Verdict, rep.Problems)
					}
					for _, m := range p.DeleteManifests {
						assertManifestGone(t, ctx, f.repo, m.Digest)
					}
					for _, b := range p.DeleteBlobs {
						assertBlobGone(t, ctx, f.repo, b.Digest)
					}
					for tag, d := range p.SurvivingTags {
						assertPullable(t, ctx, f.repo, tag, d)
					}
					if c.check != nil {
						c.check(t, f, extra, p)
					}
				})
			}
		})
	}
}

// TestDeleteDisabled: a registry refusing deletes (405) loses nothing and
// the hand-off says what to do. Embedded v3 and Debian 2.8.
func TestDeleteDisabled(t *testing.T) {
	for _, kind := range []struct {
		name  string
		start func(testing.TB, registrytest.Options) *registrytest.Registry
	}{{"embedded-v3", registrytest.NewEmbedded}, {"debian-2.8", registrytest.StartDebian}} {
		t.Run(kind.name, func(t *testing.T) {
			ctx := testCtx(t)
			reg := kind.start(t, registrytest.Options{DeleteDisabled: true})
			f := pushIssueRepo(t, ctx, reg, "acme/app")
			p := takePlan(t, ctx, f, purge.Options{Targets: []string{"debug-42"}})
			res, err := purge.Apply(ctx, f.repo, p, purge.ApplyOptions{Settle: quietSettle})
			if !errors.Is(err, purge.ErrDeleteUnsupported) || res == nil || !res.ManifestDeleteUnsupported {
				t.Fatalf("apply: %v %+v, want ErrDeleteUnsupported", err, res)
			}
			rep, err := purge.Verify(ctx, f.repo, p, res, purge.VerifyOptions{})
			if err != nil || rep.Verdict != purge.VerdictNotPurged {
				t.Fatalf("verify: %v %+v", err, rep)
			}
			for tag, d := range f.tags {
				assertPullable(t, ctx, f.repo, tag, d)
			}
			h := purge.HandOff(p, res, rep)
			for _, want := range []string{"NOTHING WAS DELETED", "storage.delete.enabled", "garbage-collect --dry-run --delete-untagged", "GHCR"} {
				if !strings.Contains(h, want) {
					t.Errorf("hand-off lacks %q:\n%s", want, h)
				}
			}
		})
	}
}

func tagAlias(t *testing.T, ctx context.Context, f *repoFixture, tag string) map[string]image.Digest {
	d := registrytest.PushManifest(t, ctx, f.repo, tag, f.debug.Manifest.MediaType, f.debug.ManifestBytes)
	return map[string]image.Digest{tag: d.Digest}
}

func multiArch(t *testing.T, ctx context.Context, f *repoFixture) map[string]image.Digest {
	arm := fixture.Build(t, fixture.Image{Arch: "arm64", Layers: []fixture.Layer{{Files: []fixture.File{{Path: "arm", Body: []byte("arm64 only")}}}}})
	ad := pushBuilt(t, ctx, f.repo, arm, "")
	dbg := f.debug.Manifest
	dbg.Platform = &image.Platform{OS: "linux", Architecture: "amd64"}
	ad.Platform = &image.Platform{OS: "linux", Architecture: "arm64"}
	ix := pushIndex(t, ctx, f.repo, "multi", dbg, ad)
	return map[string]image.Digest{"multi": ix.Digest, "arm": ad.Digest}
}

// pushArtifact pushes a small OCI artifact (empty config, one payload
// layer), with a subject when given.
func pushArtifact(t *testing.T, ctx context.Context, repo *registry.Repo, tag, payload string, subject image.Digest) image.Descriptor {
	empty := registrytest.PushBlob(t, ctx, repo, image.MediaTypeOCIEmpty, []byte("{}"))
	pl := registrytest.PushBlob(t, ctx, repo, "application/vnd.dev.cosign.simplesigning.v1+json", []byte(payload))
	m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config: empty, Layers: []image.Descriptor{pl}}
	if subject != "" {
		sd, _, err := repo.GetManifest(ctx, string(subject))
		if err != nil {
			t.Fatal(err)
		}
		m.Subject = &image.Descriptor{MediaType: sd.MediaType, Digest: subject, Size: sd.Size}
	}
	raw, _ := json.Marshal(m)
	d := registrytest.PushManifest(t, ctx, repo, tag, image.MediaTypeOCIManifest, raw)
	d.ArtifactType = m.ArtifactType
	return d
}

// cacheTag pushes a BuildKit registry cache in image-manifest form (the
// index form, with blob entries, is refused by distribution: every index
// entry must be a manifest) whose layers include the secret layer.
func cacheTag(t *testing.T, ctx context.Context, f *repoFixture) map[string]image.Digest {
	sec := f.debug.Layers[len(f.debug.Layers)-1]
	cc := []byte(`{"layers":[{"blob":"` + string(sec.Digest) + `","parent":-1}],"records":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","layers":[{"layer":0}]}]}`)
	ccd := registrytest.PushBlob(t, ctx, f.repo, image.MediaTypeBuildKitCache, cc)
	ld := sec.Descriptor()
	ld.Annotations = map[string]string{image.AnnotationUncompressed: string(sec.DiffID)}
	raw, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: ccd, Layers: []image.Descriptor{ld}})
	d := registrytest.PushManifest(t, ctx, f.repo, "buildcache", image.MediaTypeOCIManifest, raw)
	return map[string]image.Digest{"buildcache": d.Digest}
}

// cacheIndexTag pushes a BuildKit index-form cache (an index listing the
// leaked layer blob and the cache config, as BuildKit exports with
// image-manifest=false) as buildcache-index.
func cacheIndexTag(t *testing.T, ctx context.Context, f *repoFixture) map[string]image.Digest {
	sec := f.debug.Layers[len(f.debug.Layers)-1]
	cc := []byte(`{"layers":[{"blob":"` + string(sec.Digest) + `","parent":-1}],"records":[{"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","layers":[{"layer":0}]}]}`)
	ccd := registrytest.PushBlob(t, ctx, f.repo, image.MediaTypeBuildKitCache, cc)
	ld := sec.Descriptor()
	ld.Annotations = map[string]string{image.AnnotationUncompressed: string(sec.DiffID)}
	raw, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{ld, ccd}})
	d := registrytest.PushManifest(t, ctx, f.repo, "buildcache-index", image.MediaTypeOCIIndex, raw)
	return map[string]image.Digest{"buildcache-index": d.Digest}
}

func snapshotTags(t *testing.T, ctx context.Context, f *repoFixture) map[string]image.Digest {
	tags, err := f.repo.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]image.Digest{}
	for _, tag := range tags {
		d, err := f.repo.HeadManifest(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		out[tag] = d.Digest
	}
	return out
}

func mapsEqual(a, b map[string]image.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// refuseBlobDelete makes blob DELETE answer as a registry with blob deletes
// disabled would (the real registry behind it is untouched).
type refuseBlobDelete struct{ purge.Repository }

func (refuseBlobDelete) DeleteBlob(context.Context, image.Digest) error {
	return fmt.Errorf("DELETE blob: 405 UNSUPPORTED: %w", registry.ErrUnsupported)
}

// TestVerifyPendingGCAndStaleCache: with blob deletes refused the verdict is
// pending-gc and the hand-off says blobs stay pullable; after an
// out-of-process GC the registry's in-memory blob descriptor cache still
// answers 200 with an empty body (distribution#2966): restart-needed; after a
// restart: clean.
func TestVerifyPendingGCAndStaleCache(t *testing.T) {
	ctx := testCtx(t)
	reg := registrytest.NewEmbedded(t, registrytest.Options{BlobDescriptorCache: true})
	f := pushIssueRepo(t, ctx, reg, "acme/app")
	p := takePlan(t, ctx, f, purge.Options{Targets: []string{"debug-42"}})
	res, err := purge.Apply(ctx, refuseBlobDelete{f.repo}, p, purge.ApplyOptions{Settle: quietSettle})
	if err != nil || !res.BlobDeleteUnsupported {
		t.Fatalf("apply: %v %+v", err, res)
	}
	vo := purge.VerifyOptions{Attempts: 2, Backoff: time.Millisecond}
	rep, err := purge.Verify(ctx, f.repo, p, res, vo)
	if err != nil || rep.Verdict != purge.VerdictPendingGC {
		t.Fatalf("verify before GC: %v %s %v", err, rep.Verdict, rep.Problems)
	}
	if h := purge.HandOff(p, res, rep); !strings.Contains(h, "PULLABLE BY DIGEST until garbage collection") {
		t.Errorf("hand-off:\n%s", h)
	}
	reg.GC(t, true) // out of process: the cache is not told
	rep, err = purge.Verify(ctx, f.repo, p, nil, vo)
	if err != nil || rep.Verdict != purge.VerdictRestartNeeded {
		t.Fatalf("verify after GC: %v %s %v", err, rep.Verdict, rep.Problems)
	}
	if h := purge.HandOff(p, res, rep); !strings.Contains(h, "RESTART the registry") {
		t.Errorf("hand-off:\n%s", h)
	}
	reg.Restart(t)
	rep, err = purge.Verify(ctx, f.repo, p, nil, vo)
	if err != nil || rep.Verdict != purge.VerdictClean {
		t.Fatalf("verify after restart: %v %s %v", err, rep.Verdict, rep.Problems)
	}
}

// TestResumeWhenChanged: a purge interrupted after its probe, then a new
// tag that uses the leaked layer: resuming finishes the purge but keeps the
// layer (in-use), the verdict is "changed", the new tag pulls completely;
// Recheck, for callers who prefer to refuse, reports ErrChanged.
func TestResumeWhenChanged(t *testing.T) {
	ctx := testCtx(t)
	reg := registrytest.NewEmbedded(t, registrytest.Options{})
	f := pushIssueRepo(t, ctx, reg, "acme/app")
	p, jpath := abortedPurge(t, ctx, f, 2, purge.ApplyOptions{Settle: quietSettle})
	// Someone builds on the leaked image meanwhile.
	reuse := fixture.Build(t, fixture.Image{Layers: layers(app11, secret, fixture.Layer{Files: []fixture.File{{Path: "x", Body: []byte("x")}}})})
	pushBuilt(t, ctx, f.repo, reuse, "debug-43")
	if err := purge.Recheck(ctx, f.repo, p, nil, nil); !errors.Is(err, purge.ErrChanged) {
		t.Errorf("recheck: %v, want ErrChanged", err)
	}
	_, res, err := purge.Resume(ctx, f.repo, jpath, purge.ApplyOptions{Settle: quietSettle})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if len(res.InUse) != 1 || res.InUse[0].Digest != f.secretL || res.InUse[0].Outcome != purge.OutcomeInUse {
		t.Errorf("in use %+v, want the leaked layer kept", res.InUse)
	}
	rep, err := purge.Verify(ctx, f.repo, p, res, purge.VerifyOptions{})
	if err != nil || rep.Verdict != purge.VerdictChanged || !slices.Equal(rep.NewTags, []string{"debug-43"}) {
		t.Errorf("verify: %v %s new %v %v", err, rep.Verdict, rep.NewTags, rep.Problems)
	}
	assertPullable(t, ctx, f.repo, "debug-43", image.FromBytes(reuse.ManifestBytes))
	assertManifestGone(t, ctx, f.repo, f.tags["debug-42"])
	if _, err := purge.CreateJournal(jpath); err == nil {
		t.Errorf("CreateJournal overwrote an existing journal")
	}
}

// takePlan inventories f's repository and plans a purge with opts.
func takePlan(t *testing.T, ctx context.Context, f *repoFixture, opts purge.Options) *purge.Plan {
	t.Helper()
	inv, err := purge.Take(ctx, f.repo, f.name, purge.InventoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := purge.NewPlan(inv, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// abortedPurge plans the purge of debug-42 and applies it with a journal
// until the injected abort after limit registry requests; it returns the
// plan and the journal's path.
func abortedPurge(t *testing.T, ctx context.Context, f *repoFixture, limit int64, ao purge.ApplyOptions) (*purge.Plan, string) {
	t.Helper()
	p := takePlan(t, ctx, f, purge.Options{Targets: []string{"debug-42"}})
	jpath := filepath.Join(t.TempDir(), "j.jsonl")
	j, err := purge.CreateJournal(jpath)
	if err != nil {
		t.Fatal(err)
	}
	ao.Journal = j
	_, err = purge.Apply(ctx, &counting{Repository: f.repo, limit: limit}, p, ao)
	j.Close()
	if !errors.Is(err, errAborted) {
		t.Fatalf("apply: %v, want the injected abort", err)
	}
	return p, jpath
}

// TestWhere finds a blob in every repository that serves or references it.
func TestWhere(t *testing.T) {
	ctx := testCtx(t)
	reg := registrytest.NewEmbedded(t, registrytest.Options{})
	a := pushIssueRepo(t, ctx, reg, "team/a")
	// team/b holds only v1.1.0: it shares the base layers, not the secret.
	b := reg.Repo(t, ctx, "team/b")
	pushBuilt(t, ctx, b, a.v11, "prod")
	// team/c has the secret blob uploaded but no manifest uses it.
	c := reg.Repo(t, ctx, "team/c")
	sec := a.debug.Layers[len(a.debug.Layers)-1]
	registrytest.PushBlob(t, ctx, c, sec.MediaType, sec.Bytes)
	pushBuilt(t, ctx, c, a.v10, "old")
	base := a.v11.Layers[0].Digest
	open := func(ctx context.Context, name string) (purge.Repository, error) { return reg.Client(t).Repo(ctx, name) }
	repos := []string{a.name, reg.Host + "/team/b", reg.Host + "/team/c"}
	uses, err := purge.Where(ctx, open, repos, []image.Digest{a.secretL, base}, purge.InventoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, u := range uses {
		got[string(u.Digest)+" "+u.Repository] = fmt.Sprint(u.Present, u.Tags)
	}
	want := map[string]string{
		string(a.secretL) + " " + a.name:               "true [debug-42]",
		string(a.secretL) + " " + reg.Host + "/team/c": "true []",
		string(base) + " " + a.name:                    "true [debug-42 latest stable v1.0.0 v1.1.0]",
		string(base) + " " + reg.Host + "/team/b":      "true [prod]",
		string(base) + " " + reg.Host + "/team/c":      "true [old]",
	}
	if len(got) != len(want) {
		t.Errorf("where: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("where %s: %q, want %q", k, got[k], v)
		}
	}
}

// TestResumeAfterPlaceholder: on distribution 2.8 (tag DELETE 400) with
// --untag-via-placeholder, a crash right after the placeholder was pushed
// leaves the tag on it; resume recognises strata's placeholder, deletes it
// and finishes clean.
func TestResumeAfterPlaceholder(t *testing.T) {
	ctx := testCtx(t)
	reg := registrytest.StartDebian(t, registrytest.Options{})
	f := pushIssueRepo(t, ctx, reg, "acme/app")
	// probe x2, HEAD tag, DELETE tag (400), PUT config, PUT placeholder | cut
	p, jpath := abortedPurge(t, ctx, f, 6, purge.ApplyOptions{Settle: quietSettle, UntagViaPlaceholder: true})
	if d, err := f.repo.HeadManifest(ctx, "debug-42"); err != nil || d.Digest == f.tags["debug-42"] {
		t.Fatalf("debug-42 should point at the placeholder now: %v %v", d.Digest, err)
	}
	_, res, err := purge.Resume(ctx, f.repo, jpath, purge.ApplyOptions{Settle: quietSettle})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if res.Steps[0].Outcome != purge.OutcomePlaceholder {
		t.Errorf("resumed tag step: %+v", res.Steps[0])
	}
	rep, err := purge.Verify(ctx, f.repo, p, res, purge.VerifyOptions{})
	if err != nil || rep.Verdict != purge.VerdictClean {
		t.Fatalf("verify: %v %s %v", err, rep.Verdict, rep.Problems)
	}
}
