package purge

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
)

var update = flag.Bool("update", false, "rewrite golden files")

// dg names a fake digest.
func dg(s string) image.Digest { return image.FromBytes([]byte(s)) }

// invBuilder builds inventories by hand for the pure planner tests.
type invBuilder struct{ inv *Inventory }

func newInv() *invBuilder {
	return &invBuilder{inv: &Inventory{Repository: "reg.test/acme/app", Tags: map[string]image.Digest{}, Manifests: map[image.Digest]*Manifest{}}}
}

func (b *invBuilder) img(name, config string, layers ...string) image.Digest {
	m := &Manifest{Digest: dg(name), MediaType: image.MediaTypeOCIManifest, Kind: image.KindImage}
	m.Blobs = append(m.Blobs, Blob{Digest: dg(config), MediaType: image.MediaTypeOCIConfig, Size: 10, Role: "config"})
	for _, l := range layers {
		m.Blobs = append(m.Blobs, Blob{Digest: dg(l), MediaType: image.MediaTypeOCILayerGzip, Size: 100, Role: "layer"})
	}
	b.inv.Manifests[m.Digest] = m
	return m.Digest
}

func (b *invBuilder) sig(name string, subject image.Digest) image.Digest {
	m := &Manifest{Digest: dg(name), MediaType: image.MediaTypeOCIManifest, Kind: image.KindArtifact, Subject: subject,
		Blobs: []Blob{{Digest: dg("empty-config"), Size: 2, Role: "config"}, {Digest: dg(name + "-payload"), Size: 50, Role: "layer"}}}
	b.inv.Manifests[m.Digest] = m
	return m.Digest
}

func (b *invBuilder) index(name string, children ...Child) image.Digest {
	m := &Manifest{Digest: dg(name), MediaType: image.MediaTypeOCIIndex, Kind: image.KindIndex, Children: children}
	b.inv.Manifests[m.Digest] = m
	return m.Digest
}

func (b *invBuilder) cacheIndex(name string, blobs ...string) image.Digest {
	m := &Manifest{Digest: dg(name), MediaType: image.MediaTypeOCIIndex, Kind: image.KindCache}
	for _, l := range blobs {
		m.Blobs = append(m.Blobs, Blob{Digest: dg(l), MediaType: image.MediaTypeOCILayerGzip, Size: 100, Role: "blob"})
	}
	m.Blobs = append(m.Blobs, Blob{Digest: dg(name + "-cacheconfig"), MediaType: image.MediaTypeBuildKitCache, Size: 10, Role: "blob"})
	b.inv.Manifests[m.Digest] = m
	return m.Digest
}

func (b *invBuilder) tag(t string, d image.Digest) { b.inv.Tags[t] = d }

func (b *invBuilder) done() *Inventory { b.inv.link(); return b.inv }

// base builds the repository: latest, v1.0.0, v1.1.0, stable share
// base layers; debug-42 has its own config and secret layer.
func base() (*invBuilder, image.Digest) {
	b := newInv()
	v1 := b.img("v1.0.0", "cfg-v1.0.0", "base1", "base2", "app-1.0")
	v11 := b.img("v1.1.0", "cfg-v1.1.0", "base1", "base2", "app-1.1")
	dbg := b.img("debug-42", "cfg-debug", "base1", "base2", "app-1.1", "secret")
	b.tag("v1.0.0", v1)
	b.tag("v1.1.0", v11)
	b.tag("latest", v11)
	b.tag("stable", v1)
	b.tag("debug-42", dbg)
	return b, dbg
}

func digestsOf[T any](xs []T, f func(T) image.Digest) []image.Digest {
	var out []image.Digest
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func tagsOf(p *Plan) []string {
	var out []string
	for _, t := range p.DeleteTags {
		out = append(out, t.Tag)
	}
	return out
}

func manifestsOf(p *Plan) []image.Digest {
	return digestsOf(p.DeleteManifests, func(m ManifestAction) image.Digest { return m.Digest })
}

func blobsOf(p *Plan) []image.Digest {
	return digestsOf(p.DeleteBlobs, func(b BlobAction) image.Digest { return b.Digest })
}

func keptOf(p *Plan) []image.Digest {
	return digestsOf(p.KeptBlobs, func(k Kept) image.Digest { return k.Digest })
}

func sameSet(a, b []image.Digest) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestPlan(t *testing.T) {
	type want struct {
		refused    bool
		tags       []string
		manifests  []string // names passed to dg
		blobs      []string
		kept       []string
		sharing    int
		indexes    int
		leaked     []string
		extraCheck func(t *testing.T, p *Plan)
	}
	cases := []struct {
		name  string
		setup func() *Inventory
		opts  Options
		want  want
	}{{
		name:  "debug-42 alone",
		setup: func() *Inventory { b, _ := base(); return b.done() },
		opts:  Options{Targets: []string{"debug-42"}},
		want: want{tags: []string{"debug-42"}, manifests: []string{"debug-42"}, blobs: []string{"cfg-debug", "secret"},
			kept: []string{"app-1.1", "base1", "base2"}, leaked: []string{"secret"}},
	}, {
		name: "shared config blob is kept",
		setup: func() *Inventory {
			b, _ := base()
			delete(b.inv.Manifests, dg("debug-42"))
			b.tag("debug-42", b.img("debug-42b", "cfg-v1.1.0", "base1", "base2", "secret"))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}},
		want: want{tags: []string{"debug-42"}, manifests: []string{"debug-42b"}, blobs: []string{"secret"},
			kept: []string{"base1", "base2", "cfg-v1.1.0"}, leaked: []string{"secret"},
			extraCheck: func(t *testing.T, p *Plan) {
				for _, k := range p.KeptBlobs {
					if k.Digest == dg("cfg-v1.1.0") && !slices.Equal(k.Tags, []string{"latest", "v1.1.0"}) {
						t.Errorf("config kept for tags %v, want latest, v1.1.0", k.Tags)
					}
				}
			}},
	}, {
		name:  "other tag on the digest is refused",
		setup: func() *Inventory { b, d := base(); b.tag("debug-latest", d); return b.done() },
		opts:  Options{Targets: []string{"debug-42"}},
		want:  want{refused: true, tags: []string{"debug-42"}, manifests: []string{"debug-42"}},
	}, {
		name:  "other tag on the digest named with --also-tags",
		setup: func() *Inventory { b, d := base(); b.tag("debug-latest", d); return b.done() },
		opts:  Options{Targets: []string{"debug-42"}, AlsoTags: []string{"debug-latest"}},
		want: want{tags: []string{"debug-42", "debug-latest"}, manifests: []string{"debug-42"}, blobs: []string{"cfg-debug", "secret"},
			kept: []string{"app-1.1", "base1", "base2"}, leaked: []string{"secret"}},
	}, {
		name: "multi-arch index with the leak as one platform is refused",
		setup: func() *Inventory {
			b, d := base()
			arm := b.img("arm", "cfg-arm", "arm-base", "arm-app")
			b.tag("multi", b.index("multi", Child{Digest: d, Platform: "linux/amd64"}, Child{Digest: arm, Platform: "linux/arm64"}))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}},
		want: want{refused: true, indexes: 1, tags: []string{"debug-42"}},
	}, {
		name: "multi-arch index deleted whole with --also-tags",
		setup: func() *Inventory {
			b, d := base()
			arm := b.img("arm", "cfg-arm", "arm-base", "arm-app")
			b.tag("multi", b.index("multi", Child{Digest: d, Platform: "linux/amd64"}, Child{Digest: arm, Platform: "linux/arm64"}))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}, AlsoTags: []string{"multi"}},
		want: want{tags: []string{"debug-42", "multi"}, manifests: []string{"multi", "debug-42", "arm"},
			blobs: []string{"arm-app", "arm-base", "cfg-arm", "cfg-debug", "secret"}, kept: []string{"app-1.1", "base1", "base2"},
			leaked: []string{"secret"}},
	}, {
		name: "multi-arch index included with --include-sharing",
		setup: func() *Inventory {
			b, d := base()
			arm := b.img("arm", "cfg-arm", "arm-base", "arm-app")
			b.tag("multi", b.index("multi", Child{Digest: d, Platform: "linux/amd64"}, Child{Digest: arm, Platform: "linux/arm64"}))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}, IncludeSharing: true},
		want: want{tags: []string{"debug-42", "multi"}, manifests: []string{"multi", "debug-42", "arm"},
			blobs: []string{"arm-app", "arm-base", "cfg-arm", "cfg-debug", "secret"}, kept: []string{"app-1.1", "base1", "base2"},
			leaked: []string{"secret"}, indexes: 1,
			extraCheck: func(t *testing.T, p *Plan) {
				if p.Indexes[0].Action != "delete-whole-index" {
					t.Errorf("index action %q, want delete-whole-index", p.Indexes[0].Action)
				}
			}},
	}, {
		name: "index target deletes its children, keeps a child another tag uses",
		setup: func() *Inventory {
			b, _ := base()
			amd := b.img("amd", "cfg-amd", "base1", "amd-secret")
			arm := b.img("arm", "cfg-arm", "arm-base")
			b.tag("arm-only", arm)
			b.tag("multi", b.index("multi", Child{Digest: amd, Platform: "linux/amd64"}, Child{Digest: arm, Platform: "linux/arm64"}))
			return b.done()
		},
		opts: Options{Targets: []string{"multi"}},
		want: want{tags: []string{"multi"}, manifests: []string{"multi", "amd"}, blobs: []string{"amd-secret", "cfg-amd"},
			kept: []string{"base1"}, leaked: []string{"amd-secret"},
			extraCheck: func(t *testing.T, p *Plan) {
				if len(p.KeptManifests) != 1 || p.KeptManifests[0].Digest != dg("arm") {
					t.Errorf("kept manifests %+v, want arm", p.KeptManifests)
				}
			}},
	}, {
		name: "BuildKit index with attestation: attestations deleted first",
		setup: func() *Inventory {
			b, _ := base()
			amd := b.img("amd", "cfg-amd", "base1", "amd-secret")
			att := b.img("att", "empty-config", "provenance")
			b.inv.Manifests[att].Kind = image.KindAttestation
			b.tag("bk", b.index("bk", Child{Digest: amd, Platform: "linux/amd64"}, Child{Digest: att, Platform: "unknown/unknown", AttestationFor: amd}))
			return b.done()
		},
		opts: Options{Targets: []string{"bk"}},
		want: want{tags: []string{"bk"}, manifests: []string{"att", "bk", "amd"},
			blobs: []string{"amd-secret", "cfg-amd", "empty-config", "provenance"}, kept: []string{"base1"}, leaked: []string{"amd-secret"},
			extraCheck: func(t *testing.T, p *Plan) {
				if p.DeleteManifests[0].Role != "attestation" || p.DeleteManifests[1].Digest != dg("bk") {
					t.Errorf("order %+v: want attestation, then the index, then the image", p.DeleteManifests)
				}
				steps := p.Steps()
				if steps[0].Op != "delete-manifest" || steps[1].Op != "delete-tag" || steps[len(steps)-1].Op != "delete-blob" {
					t.Errorf("steps %+v", steps)
				}
			}},
	}, {
		name: "signature under the fallback tag and cosign tag",
		setup: func() *Inventory {
			b, d := base()
			s := b.sig("sig", d)
			b.tag("sha256-"+d.Hex(), b.index("fallback", Child{Digest: s}))
			b.tag("sha256-"+d.Hex()+".sig", b.sig("cosign", d))
			// A signature of a surviving image stays, sharing the empty config.
			b.tag("sha256-"+dg("v1.1.0").Hex()+".sig", b.sig("cosign-v11", dg("v1.1.0")))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}},
		want: want{tags: []string{"debug-42", "sha256-" + dg("debug-42").Hex(), "sha256-" + dg("debug-42").Hex() + ".sig"},
			manifests: []string{"cosign", "fallback", "sig", "debug-42"},
			blobs:     []string{"cfg-debug", "secret", "sig-payload", "cosign-payload"},
			kept:      []string{"app-1.1", "base1", "base2", "empty-config"}, leaked: []string{"secret"},
			extraCheck: func(t *testing.T, p *Plan) {
				for i, m := range p.DeleteManifests {
					if m.Digest == dg("debug-42") && i != len(p.DeleteManifests)-1 {
						t.Errorf("target deleted before its referrers: %+v", p.DeleteManifests)
					}
				}
			}},
	}, {
		// Issue 9 item 14: the only other user of the empty config is a
		// signature of latest that no tag reaches (found through the
		// referrers API): the config stays, attributed to latest.
		name: "untagged API referrer of a survivor keeps the shared empty config",
		setup: func() *Inventory {
			b, d := base()
			b.inv.ReferrersAPI = true
			b.sig("sig-debug", d)
			b.sig("sig-v11", dg("v1.1.0"))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}},
		want: want{tags: []string{"debug-42"}, manifests: []string{"sig-debug", "debug-42"},
			blobs: []string{"cfg-debug", "secret", "sig-debug-payload"},
			kept:  []string{"app-1.1", "base1", "base2", "empty-config"}, leaked: []string{"secret"},
			extraCheck: func(t *testing.T, p *Plan) {
				for _, k := range p.KeptBlobs {
					if k.Digest == dg("empty-config") && (!slices.Equal(k.Manifests, []image.Digest{dg("sig-v11")}) || !slices.Equal(k.Tags, []string{"latest", "v1.1.0"})) {
						t.Errorf("empty config kept for %v (tags %v), want the signature of v1.1.0 (latest, v1.1.0)", k.Manifests, k.Tags)
					}
				}
			}},
	}, {
		name: "referrer of a referrer of a survivor keeps its blobs",
		setup: func() *Inventory {
			b, d := base()
			b.inv.ReferrersAPI = true
			b.sig("sig-debug", d)
			sbom := b.sig("sbom-v11", dg("v1.1.0"))
			b.sig("sbom-sig", sbom)
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}},
		want: want{tags: []string{"debug-42"}, manifests: []string{"sig-debug", "debug-42"},
			blobs: []string{"cfg-debug", "secret", "sig-debug-payload"},
			kept:  []string{"app-1.1", "base1", "base2", "empty-config"}, leaked: []string{"secret"}},
	}, {
		name: "cache tag referencing the leaked layer is reported",
		setup: func() *Inventory {
			b, _ := base()
			b.tag("buildcache", b.cacheIndex("cache", "base1", "secret"))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}},
		want: want{tags: []string{"debug-42"}, manifests: []string{"debug-42"}, blobs: []string{"cfg-debug"},
			kept: []string{"app-1.1", "base1", "base2", "secret"}, leaked: []string{"secret"}, sharing: 1,
			extraCheck: func(t *testing.T, p *Plan) {
				if s := p.Sharing[0]; !slices.Equal(s.Tags, []string{"buildcache"}) || s.Included {
					t.Errorf("sharing %+v", s)
				}
			}},
	}, {
		name: "cache tag included with --include-sharing",
		setup: func() *Inventory {
			b, _ := base()
			b.tag("buildcache", b.cacheIndex("cache", "base1", "secret"))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}, IncludeSharing: true},
		want: want{tags: []string{"buildcache", "debug-42"}, manifests: []string{"cache", "debug-42"},
			blobs: []string{"cfg-debug", "secret", "cache-cacheconfig"},
			kept:  []string{"app-1.1", "base1", "base2"}, leaked: []string{"secret"}, sharing: 1},
	}, {
		name: "image built FROM the leak leaks too",
		setup: func() *Inventory {
			b, _ := base()
			b.tag("debug-43", b.img("debug-43", "cfg-43", "base1", "base2", "app-1.1", "secret", "more"))
			return b.done()
		},
		opts: Options{Targets: []string{"debug-42"}},
		want: want{tags: []string{"debug-42"}, manifests: []string{"debug-42"}, blobs: []string{"cfg-debug"},
			kept: []string{"app-1.1", "base1", "base2", "secret"}, leaked: []string{"secret"}, sharing: 1},
	}, {
		name:  "target by digest",
		setup: func() *Inventory { b, _ := base(); return b.done() },
		opts:  Options{Targets: []string{string(dg("debug-42"))}},
		want: want{refused: true, manifests: []string{"debug-42"},
			extraCheck: func(t *testing.T, p *Plan) {
				if r := p.Refusals[0]; len(r.AlsoTags) != 1 || r.AlsoTags[0] != "debug-42" || !strings.Contains(r.Fix, "debug-42") || strings.Contains(r.Fix, "--") {
					t.Errorf("refusal %+v", p.Refusals[0])
				}
			}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPlan(c.setup(), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.WriteTable(&buf); err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + buf.String())
			if p.Refused() != c.want.refused {
				t.Fatalf("refused = %v (%v), want %v", p.Refused(), p.Refusals, c.want.refused)
			}
			if c.want.tags != nil && !slices.Equal(tagsOf(p), c.want.tags) {
				t.Errorf("tags %v, want %v", tagsOf(p), c.want.tags)
			}
			names := func(ns []string) []image.Digest {
				var out []image.Digest
				for _, n := range ns {
					out = append(out, dg(n))
				}
				return out
			}
			if c.want.manifests != nil && !sameSet(manifestsOf(p), names(c.want.manifests)) {
				t.Errorf("manifests %v, want %v", manifestsOf(p), c.want.manifests)
			}
			if !c.want.refused {
				if !sameSet(blobsOf(p), names(c.want.blobs)) {
					t.Errorf("blobs %v, want %v", blobsOf(p), c.want.blobs)
				}
				if !sameSet(keptOf(p), names(c.want.kept)) {
					t.Errorf("kept %v, want %v", keptOf(p), c.want.kept)
				}
				if !sameSet(p.LeakedLayers, names(c.want.leaked)) {
					t.Errorf("leaked %v, want %v", p.LeakedLayers, c.want.leaked)
				}
			}
			if len(p.Sharing) != c.want.sharing {
				t.Errorf("sharing %+v, want %d", p.Sharing, c.want.sharing)
			}
			if len(p.Indexes) != c.want.indexes {
				t.Errorf("indexes %+v, want %d", p.Indexes, c.want.indexes)
			}
			// Invariants: no surviving tag's manifest is deleted; no blob a
			// survivor uses is deleted.
			if !p.Refused() {
				checkInvariants(t, c.setup(), p)
			}
			if c.want.extraCheck != nil {
				c.want.extraCheck(t, p)
			}
		})
	}
}

// checkInvariants asserts that applying p leaves every surviving tag whole.
func checkInvariants(t *testing.T, inv *Inventory, p *Plan) {
	t.Helper()
	doomedM := map[image.Digest]bool{}
	for _, m := range p.DeleteManifests {
		doomedM[m.Digest] = true
	}
	doomedB := map[image.Digest]bool{}
	for _, b := range p.DeleteBlobs {
		doomedB[b.Digest] = true
	}
	// Every manifest the plan keeps, tagged or not (an untagged referrer of
	// a survivor), keeps every blob it references.
	for d, m := range inv.Manifests {
		if doomedM[d] {
			continue
		}
		for _, b := range m.Blobs {
			if doomedB[b.Digest] {
				t.Errorf("kept manifest %s needs deleted blob %s", d, b.Digest)
			}
		}
	}
	g := newGraph(inv)
	for tag := range p.SurvivingTags {
		for d := range g.reach([]string{tag}) {
			if doomedM[d] {
				t.Errorf("surviving tag %s needs deleted manifest %s", tag, d)
			}
			if m := inv.Manifests[d]; m != nil {
				for _, b := range m.Blobs {
					if doomedB[b.Digest] {
						t.Errorf("surviving tag %s needs deleted blob %s", tag, b.Digest)
					}
				}
			}
		}
	}
}

func TestPlanBadTarget(t *testing.T) {
	b, _ := base()
	inv := b.done()
	for _, ref := range []string{"nope", "sha256:" + strings.Repeat("0", 64), "sha256:zz"} {
		if _, err := NewPlan(inv, Options{Targets: []string{ref}}); !errors.Is(err, ErrBadTarget) {
			t.Errorf("%s: err %v, want ErrBadTarget", ref, err)
		}
	}
	if _, err := NewPlan(inv, Options{Targets: []string{"debug-42"}, AlsoTags: []string{"missing"}}); !errors.Is(err, ErrBadTarget) {
		t.Errorf("missing also-tag: err %v", err)
	}
}

func TestPlanGolden(t *testing.T) {
	b, d := base()
	s := b.sig("sig", d)
	b.tag("sha256-"+d.Hex(), b.index("fallback", Child{Digest: s}))
	b.tag("buildcache", b.cacheIndex("cache", "base1", "secret"))
	p, err := NewPlan(b.done(), Options{Targets: []string{"debug-42"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"plan.json.golden", func(w *bytes.Buffer) error { return writeJSON(w, p) }},
		{"plan.txt.golden", func(w *bytes.Buffer) error { return p.WriteTable(w) }},
	} {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", f.name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from golden (run with -update to accept):\n%s", f.name, buf.String())
		}
	}
}

func TestReferrerSubject(t *testing.T) {
	h := dg("x").Hex()
	for tag, want := range map[string]string{
		"sha256-" + h:           "referrers",
		"sha256-" + h + ".sig":  "cosign.sig",
		"sha256-" + h + ".att":  "cosign.att",
		"sha256-" + h + ".sbom": "cosign.sbom",
		"sha256-abc":            "",
		"latest":                "",
		"v1-" + h:               "",
	} {
		d, kind, ok := ReferrerSubject(tag)
		if kind != want || ok != (want != "") || ok && d != dg("x") {
			t.Errorf("%s: %s %s %v, want %s", tag, d, kind, ok, want)
		}
	}
}

func TestInventoryCounts(t *testing.T) {
	b, d := base()
	inv := b.done()
	users := inv.BlobUsers()
	if n := len(users[dg("base1")]); n != 3 {
		t.Errorf("base1 used by %d manifests, want 3", n)
	}
	if u := users[dg("secret")]; len(u) != 1 || u[0] != d {
		t.Errorf("secret users %v", u)
	}
	if tags := inv.TagsReaching()[dg("v1.1.0")]; !slices.Equal(tags, []string{"latest", "v1.1.0"}) {
		t.Errorf("tags reaching v1.1.0: %v", tags)
	}
}

// writeJSON writes v as indented JSON, as the golden plan was recorded.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
