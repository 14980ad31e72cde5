package purge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/registry"
)

// genRepo is a random repository: the model the oracle reasons on,
// independent of the planner.
type genRepo struct {
	tags     map[string]image.Digest
	children map[image.Digest][]image.Digest // index -> children
	blobs    map[image.Digest][]image.Digest // manifest -> config + layers
	// subjectOf maps a referrers fallback tag to the image its signatures
	// sign.
	subjectOf map[string]image.Digest
	// referrers maps a manifest to its untagged referrers, found only
	// through the referrers API (signatures, and signatures of those).
	referrers map[image.Digest][]image.Digest
	// For concurrent writers: every blob pushed (bytes and type), which of
	// them are configs and layers, and the images (possible subjects).
	data    map[image.Digest]blobData
	configs []image.Digest
	layers  []image.Digest
	images  []image.Descriptor
}

type blobData struct {
	d    image.Descriptor
	data []byte
}

// withReferrers adds to ms (and their blobs to bs) every API referrer of a
// manifest in ms, recursively.
func (g *genRepo) withReferrers(ms, bs map[image.Digest]bool) {
	var stack []image.Digest
	for d := range ms {
		stack = append(stack, d)
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, r := range g.referrers[d] {
			if ms[r] {
				continue
			}
			ms[r] = true
			for _, b := range g.blobs[r] {
				bs[b] = true
			}
			stack = append(stack, r)
		}
	}
}

// reach returns the manifests and blobs a tag needs.
func (g *genRepo) reach(tag string) (map[image.Digest]bool, map[image.Digest]bool) {
	ms, bs := map[image.Digest]bool{}, map[image.Digest]bool{}
	var walk func(d image.Digest)
	walk = func(d image.Digest) {
		if ms[d] {
			return
		}
		ms[d] = true
		for _, c := range g.children[d] {
			walk(c)
		}
		for _, b := range g.blobs[d] {
			bs[b] = true
		}
	}
	walk(g.tags[tag])
	return ms, bs
}

// pushRandomRepo pushes a random repository: a pool of small layers, 2-5
// images with random (often shared) layers and sometimes a shared config,
// sometimes a two-platform index, and tags on random images and indexes
// (several tags may share a digest; every image outside an index is
// tagged, so nothing is an invisible orphan). The model is decided first so
// that each manifest is pushed once, with its first tag.
func pushRandomRepo(t testing.TB, ctx context.Context, rng *rand.Rand, repo *registry.Repo, api bool) *genRepo {
	g := &genRepo{tags: map[string]image.Digest{}, children: map[image.Digest][]image.Digest{}, blobs: map[image.Digest][]image.Digest{}, subjectOf: map[string]image.Digest{},
		referrers: map[image.Digest][]image.Digest{}, data: map[image.Digest]blobData{}}
	type blob = blobData
	var pool []blob
	for i, n := 0, 2+rng.Intn(5); i < n; i++ {
		b := make([]byte, 16+rng.Intn(48))
		rng.Read(b)
		pool = append(pool, blob{image.Descriptor{MediaType: image.MediaTypeOCILayerGzip, Digest: image.FromBytes(b), Size: int64(len(b))}, b})
	}
	var blobs []blob
	used := map[image.Digest]bool{}
	use := func(b blob) image.Descriptor {
		if !used[b.d.Digest] {
			used[b.d.Digest] = true
			blobs = append(blobs, b)
		}
		return b.d
	}
	type man struct {
		d   image.Descriptor
		raw []byte
	}
	var images []man
	var configs []blob
	for i, n := 0, 2+rng.Intn(4); i < n; i++ {
		var cfg image.Descriptor
		if len(configs) > 0 && rng.Intn(6) == 0 {
			cfg = configs[rng.Intn(len(configs))].d
		} else {
			raw, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}, "n": i, "r": rng.Int63()})
			c := blob{image.Descriptor{MediaType: image.MediaTypeOCIConfig, Digest: image.FromBytes(raw), Size: int64(len(raw))}, raw}
			configs = append(configs, c)
			cfg = use(c)
		}
		var ls []image.Descriptor
		seen := map[image.Digest]bool{}
		for j, k := 0, 1+rng.Intn(4); j < k; j++ {
			l := pool[rng.Intn(len(pool))]
			if j == 0 && rng.Intn(2) == 0 {
				l = pool[0] // a common base layer
			}
			if !seen[l.d.Digest] {
				seen[l.d.Digest] = true
				ls = append(ls, use(l))
			}
		}
		raw, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cfg, Layers: ls})
		md := image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: image.FromBytes(raw), Size: int64(len(raw))}
		g.images = append(g.images, md)
		g.blobs[md.Digest] = []image.Digest{cfg.Digest}
		for _, l := range ls {
			g.blobs[md.Digest] = append(g.blobs[md.Digest], l.Digest)
		}
		images = append(images, man{md, raw})
	}
	var index *man
	inIndex := map[image.Digest]bool{}
	if rng.Intn(3) == 0 {
		a, b := images[0].d, images[1+rng.Intn(len(images)-1)].d
		if a.Digest != b.Digest {
			a.Platform = &image.Platform{OS: "linux", Architecture: "amd64"}
			b.Platform = &image.Platform{OS: "linux", Architecture: "arm64"}
			raw, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{a, b}})
			index = &man{image.Descriptor{MediaType: image.MediaTypeOCIIndex, Digest: image.FromBytes(raw), Size: int64(len(raw))}, raw}
			g.children[index.d.Digest] = []image.Digest{a.Digest, b.Digest}
			inIndex[a.Digest], inIndex[b.Digest] = true, true
		}
	}
	// Tags: every manifest outside the index (and the index) gets one,
	// images inside the index sometimes; then 0-2 extra tags anywhere.
	all := append([]man(nil), images...)
	if index != nil {
		all = append(all, *index)
	}
	tagsOf := map[image.Digest][]string{}
	n := 0
	tagOn := func(m man) {
		tag := fmt.Sprintf("t%d", n)
		n++
		tagsOf[m.d.Digest] = append(tagsOf[m.d.Digest], tag)
		g.tags[tag] = m.d.Digest
	}
	for _, m := range all {
		if !inIndex[m.d.Digest] || rng.Intn(3) == 0 {
			tagOn(m)
		}
	}
	for i, k := 0, rng.Intn(3); i < k || len(g.tags) < 2; i++ {
		tagOn(all[rng.Intn(len(all))])
	}
	// Signatures: sometimes one or two images get a signature (an OCI
	// artifact with a subject, sharing the empty "{}" config blob), listed
	// in the referrers fallback index tagged sha256-<hex>, or, when the
	// registry has the referrers API, often left untagged (found only
	// through the API), sometimes signed in turn.
	var sigs []man
	var fallbacks []man
	sign := func(subj image.Descriptor) man {
		empty := use(blob{image.Descriptor{MediaType: image.MediaTypeOCIEmpty, Digest: image.FromBytes([]byte("{}")), Size: 2}, []byte("{}")})
		payload := []byte(fmt.Sprintf("signature of %s %d", subj.Digest, rng.Int63()))
		pl := use(blob{image.Descriptor{MediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Digest: image.FromBytes(payload), Size: int64(len(payload))}, payload})
		raw, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
			Config: empty, Layers: []image.Descriptor{pl}, Subject: &subj})
		sig := man{image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: image.FromBytes(raw), Size: int64(len(raw)), ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json"}, raw}
		g.blobs[sig.d.Digest] = []image.Digest{empty.Digest, pl.Digest}
		sigs = append(sigs, sig)
		return sig
	}
	if rng.Intn(2) == 0 {
		for _, im := range images[:1+rng.Intn(2)] {
			if api && rng.Intn(3) != 0 {
				sig := sign(im.d)
				g.referrers[im.d.Digest] = append(g.referrers[im.d.Digest], sig.d.Digest)
				if rng.Intn(2) == 0 {
					g.referrers[sig.d.Digest] = append(g.referrers[sig.d.Digest], sign(sig.d).d.Digest)
				}
				continue
			}
			if g.subjectOf[registry.ReferrersTag(im.d.Digest)] != "" {
				continue
			}
			sig := sign(im.d)
			fraw, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{sig.d}})
			fb := man{image.Descriptor{MediaType: image.MediaTypeOCIIndex, Digest: image.FromBytes(fraw), Size: int64(len(fraw))}, fraw}
			g.children[fb.d.Digest] = []image.Digest{sig.d.Digest}
			tag := registry.ReferrersTag(im.d.Digest)
			g.tags[tag] = fb.d.Digest
			g.subjectOf[tag] = im.d.Digest
			tagsOf[fb.d.Digest] = append(tagsOf[fb.d.Digest], tag)
			fallbacks = append(fallbacks, fb)
		}
	}
	all = append(append(all, sigs...), fallbacks...)
	for _, b := range blobs {
		registrytest.PushBlob(t, ctx, repo, b.d.MediaType, b.data)
		g.data[b.d.Digest] = b
		switch b.d.MediaType {
		case image.MediaTypeOCIConfig:
			g.configs = append(g.configs, b.d.Digest)
		case image.MediaTypeOCILayerGzip:
			g.layers = append(g.layers, b.d.Digest)
		}
	}
	for _, m := range all { // images before the index that lists them
		ts := tagsOf[m.d.Digest]
		if len(ts) == 0 {
			ts = []string{""}
		}
		for _, tag := range ts {
			registrytest.PushManifest(t, ctx, repo, tag, m.d.MediaType, m.raw)
		}
	}
	return g
}

// planWithConsent plans purging target, naming with --also-tags whatever
// the planner refuses over (other tags on the digest, indexes listing it),
// as a user following the plan's advice would.
func planWithConsent(t testing.TB, inv *purge.Inventory, target string) *purge.Plan {
	opts := purge.Options{Targets: []string{target}}
	for round := 0; round < 4; round++ {
		p, err := purge.NewPlan(inv, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Refused() {
			return p
		}
		for _, r := range p.Refusals {
			for _, tag := range r.Tags {
				if !slices.Contains(opts.AlsoTags, tag) {
					opts.AlsoTags = append(opts.AlsoTags, tag)
				}
			}
		}
	}
	t.Fatalf("plan for %s still refused after naming every tag", target)
	return nil
}

// TestProperty purges a random tag from each of 120 random repositories
// (40 with -short) on embedded distribution v3 and checks, against the
// generator's own model: the purged tags are exactly the target and the
// tags the user consented to; every other tag resolves to its old digest
// and pulls completely; every manifest and blob only the purged tags used
// answers 404. Every third repository has its purge aborted after k
// requests and finished from the journal with Resume; every sixth also has
// its first resume aborted and resumes twice. Half the repositories are
// reached through a proxy that serves the referrers API: their signatures
// are often untagged referrers (and referrers of referrers), which live and
// die with their subject. In every repository a concurrent writer pushes
// images reusing its layers and configs, signatures and indexes for as long
// as the purge runs: no tag it pushed (nor its referrer of a surviving
// image) may lose a blob, and a planned blob it uses must be reported.
func TestProperty(t *testing.T) {
	n := 120
	if testing.Short() {
		n = 40
	}
	const seed = 20260102
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a deadlock guard, not a time bound
	defer cancel()
	reg := registrytest.NewEmbedded(t, registrytest.Options{})
	px := reg.Proxy(t, registrytest.ProxyOptions{Referrers: true})
	ways := [2]propWay{{reg.Client(t), reg.Host}, {px.Registry.Client(t), px.Registry.Host}}
	var wg sync.WaitGroup
	work := make(chan int)
	var st propStats
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				st.add(propertyCase(t, ctx, ways, i, seed+int64(i)))
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("%d repositories, %d purges aborted mid-way and resumed (%d steps checked or finished on resume), %d purges took signatures with them, %d untagged API referrers went with their subject",
		n, st.aborted, st.resumed, sigPurges.Load(), apiPurges.Load())
	t.Logf("concurrent writers: %d pushes (%d abandoned or refused), %d planned blobs kept for them, %d restored, %d lost after an interruption; %d verdicts changed; %d check requests",
		st.pushes, st.failed, st.inUse, st.restored, st.lost, st.changed, st.checkRequests)
	if st.aborted == 0 {
		t.Errorf("no purge was aborted: failure injection did not happen")
	}
	if st.inUse+st.restored == 0 || st.changed == 0 || apiPurges.Load() == 0 {
		t.Errorf("the writers never raced a planned blob, or no purge took an API referrer: the property was not exercised")
	}
}

var sigPurges, apiPurges atomic.Int64

type propStats struct {
	aborted, resumed, pushes, failed, inUse, restored, lost, changed, checkRequests int
}

var propMu sync.Mutex

func (s *propStats) add(c propStats) {
	propMu.Lock()
	defer propMu.Unlock()
	src := c.counters()
	for i, p := range s.counters() {
		*p += *src[i]
	}
}

func (s *propStats) counters() []*int {
	return []*int{&s.aborted, &s.resumed, &s.pushes, &s.failed, &s.inUse, &s.restored, &s.lost, &s.changed, &s.checkRequests}
}

// propWay is how a property case reaches the registry: straight, or
// through the proxy that serves the referrers API.
type propWay struct {
	client *registry.Client
	host   string
}

func propertyCase(t *testing.T, ctx context.Context, ways [2]propWay, i int, seed int64) (st propStats) {
	rng := rand.New(rand.NewSource(seed))
	api := (i/2)%2 == 1
	way := ways[0]
	if api {
		way = ways[1]
	}
	full := fmt.Sprintf("%s/prop/r%03d", way.host, i)
	repo, err := way.client.Repo(ctx, full)
	if err != nil {
		t.Error(err)
		return
	}
	g := pushRandomRepo(t, ctx, rng, repo, api)
	tags := make([]string, 0, len(g.tags))
	for tag := range g.tags {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	target := tags[rng.Intn(len(tags))]
	fail := func(format string, a ...any) {
		t.Errorf("repo %d (seed %d, target %s, api %v): %s", i, seed, target, api, fmt.Sprintf(format, a...))
	}
	inv, err := purge.Take(ctx, repo, full, purge.InventoryOptions{})
	if err != nil {
		fail("inventory: %v", err)
		return
	}
	if inv.ReferrersAPI != api {
		fail("inventory saw referrers API %v", inv.ReferrersAPI)
	}
	p := planWithConsent(t, inv, target)
	consented := map[string]bool{target: true}
	for _, tg := range p.Targets {
		consented[tg.Ref] = true
	}
	jpath := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := purge.CreateJournal(jpath)
	if err != nil {
		fail("%v", err)
		return
	}
	// The writer runs from just before the purge until it ends (resumes
	// included).
	w := newWriter(repo, g, seed^0x5eed, api)
	stop := make(chan struct{})
	var wwg sync.WaitGroup
	wwg.Add(1)
	go func() { defer wwg.Done(); w.run(ctx, stop) }()
	var stopOnce sync.Once
	stopWriter := func() { stopOnce.Do(func() { close(stop); wwg.Wait() }) }
	defer stopWriter()

	var res *purge.Result
	if i%3 == 0 {
		// Abort after k requests, then resume from the journal.
		k := int64(1 + rng.Intn(len(p.Steps())+3))
		cut := &counting{Repository: repo, limit: k}
		_, err = purge.Apply(ctx, cut, p, purge.ApplyOptions{Settle: propSettle, Journal: j})
		j.Close()
		if err != nil {
			if !errors.Is(err, errAborted) {
				fail("aborted apply: %v", err)
				return
			}
			st.aborted = 1
			if i%6 == 0 {
				// Crash again while resuming (re-inventory included).
				cut2 := &counting{Repository: repo, limit: int64(1 + rng.Intn(len(g.tags)+len(p.Steps())+4))}
				if _, _, err := purge.Resume(ctx, cut2, jpath, purge.ApplyOptions{Settle: propSettle}); err != nil && !errors.Is(err, errAborted) {
					fail("first resume: %v", err)
					return
				}
			}
			_, res, err = purge.Resume(ctx, repo, jpath, purge.ApplyOptions{Settle: propSettle})
			if err != nil {
				fail("resume: %v", err)
				return
			}
			st.resumed = len(res.Steps)
		} else {
			res, _ = purge.Apply(ctx, repo, p, purge.ApplyOptions{Settle: propSettle}) // all done already: 404s
		}
	} else {
		res, err = purge.Apply(ctx, repo, p, purge.ApplyOptions{Settle: propSettle, Journal: j, Inventory: inv})
		j.Close()
		if err != nil {
			fail("apply: %v", err)
			return
		}
	}
	stopWriter()
	st.pushes, st.failed, st.checkRequests = w.pushes, w.failed, res.CheckRequests
	lost := map[image.Digest]bool{}
	for _, u := range res.InUse {
		switch u.Outcome {
		case purge.OutcomeInUse:
			st.inUse++
		case purge.OutcomeRestored:
			st.restored++
		case purge.OutcomeLost:
			st.lost++
			lost[u.Digest] = true
		}
	}
	if len(lost) > 0 && st.aborted == 0 {
		fail("blobs lost without an interruption: %+v", res.InUse)
	}
	rep, err := purge.Verify(ctx, repo, p, res, purge.VerifyOptions{})
	switch {
	case err != nil:
		fail("verify: %v", err)
	case rep.Verdict == purge.VerdictChanged:
		st.changed = 1
	case rep.Verdict == purge.VerdictFailed && len(lost) > 0:
	case rep.Verdict != purge.VerdictClean:
		fail("verify: %v %v %v", err, rep.Verdict, rep.Problems)
	}
	if len(res.InUse) > 0 && rep.Verdict == purge.VerdictClean {
		fail("blobs were kept for concurrent pushes (%+v) but the verdict is clean", res.InUse)
	}

	// Oracle, from the generator's model.
	// Blobs of surviving tags: every one HEAD-checked, one per repository
	// (the first met) also fetched and hashed; Verify already fetched and
	// hashed every surviving config.
	sampled := false
	getOne := func(image.Digest) bool {
		if sampled {
			return false
		}
		sampled = true
		return true
	}
	liveM, liveB := map[image.Digest]bool{}, map[image.Digest]bool{}
	deadM, deadB := map[image.Digest]bool{}, map[image.Digest]bool{}
	// A signature's fallback tag goes when its subject goes (and no
	// surviving tag still needs the subject), unless it was a target itself.
	expected := map[string]bool{}
	for tag := range consented {
		expected[tag] = true
	}
	{
		deadImg, liveImg := map[image.Digest]bool{}, map[image.Digest]bool{}
		for _, tag := range tags {
			if g.subjectOf[tag] != "" && !consented[tag] {
				continue
			}
			ms, _ := g.reach(tag)
			for d := range ms {
				if consented[tag] {
					deadImg[d] = true
				} else {
					liveImg[d] = true
				}
			}
		}
		for tag, subj := range g.subjectOf {
			if deadImg[subj] && !liveImg[subj] {
				expected[tag] = true
			}
		}
	}
	for _, dt := range p.DeleteTags {
		if !expected[dt.Tag] {
			fail("deleted tag %s that is neither consented to nor a signature of a purged image", dt.Tag)
		}
	}
	for _, tag := range tags {
		if expected[tag] && !slices.ContainsFunc(p.DeleteTags, func(a purge.TagAction) bool { return a.Tag == tag }) {
			fail("tag %s should be deleted (consented, or signature of a purged image) but is not planned", tag)
		}
	}
	consented = expected
	for _, dt := range p.DeleteTags {
		if dt.Reason == "referrers-tag" {
			sigPurges.Add(1)
			break
		}
	}
	for _, tag := range tags {
		ms, bs := g.reach(tag)
		into := func(dst, src map[image.Digest]bool) {
			for d := range src {
				dst[d] = true
			}
		}
		if consented[tag] {
			into(deadM, ms)
			into(deadB, bs)
		} else {
			into(liveM, ms)
			into(liveB, bs)
			assertPullable(t, ctx, repo, tag, g.tags[tag], getOne)
		}
		if consented[tag] {
			if _, err := repo.HeadManifest(ctx, tag); err == nil {
				fail("purged tag %s still resolves", tag)
			}
		}
	}
	// Untagged API referrers live and die with their subjects.
	g.withReferrers(liveM, liveB)
	g.withReferrers(deadM, deadB)
	for _, rs := range g.referrers {
		for _, r := range rs {
			if liveM[r] {
				assertPullable(t, ctx, repo, string(r), r, getOne)
			} else if deadM[r] {
				apiPurges.Add(1)
			}
		}
	}
	kept := w.used(liveM)
	w.check(t, ctx, liveM, lost, fail)
	for d := range deadM {
		if !liveM[d] {
			assertManifestGone(t, ctx, repo, d)
		}
	}
	for d := range deadB {
		if !liveB[d] && !kept[d] {
			assertBlobGone(t, ctx, repo, d)
		}
		if !liveB[d] && kept[d] && rep.Verdict == purge.VerdictClean {
			fail("planned blob %s is used by a concurrent push but the verdict is clean", d)
		}
	}
	return st
}
