package purge

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/stratascan/strata/image"
)

// ErrBadTarget reports a purge target that the inventory does not hold.
var ErrBadTarget = errors.New("purge target not found")

// ErrRefused reports a plan that must not be applied as it stands.
var ErrRefused = errors.New("purge refused")

// Options say what to purge.
type Options struct {
	// Targets are tags or digests ("sha256:…") of the repository.
	Targets []string
	// AlsoTags are other tags the user agrees to delete with the targets:
	// tags sharing a target's digest (deleting by digest removes every tag
	// on it) or tags of a multi-arch index listing a target.
	AlsoTags []string
	// IncludeSharing adds every surviving tag that contains a leaked layer,
	// and every index listing a target, to the targets.
	IncludeSharing bool
	// LeakedLayers names the layers that hold the leak. When empty, the
	// leaked layers are the targets' layers above the longest base they
	// share with a surviving image (see Plan.LeakedLayers).
	LeakedLayers []image.Digest
}

// Plan is what a purge will do, decided from an Inventory alone. It is a
// plain value, rendered as a table or JSON, journalled, and applied.
type Plan struct {
	Repository string `json:"repository"`
	// Targets are the references asked for, resolved.
	Targets []Target `json:"targets"`
	// DeleteTags are removed in phase 2 (see Steps).
	DeleteTags []TagAction `json:"deleteTags"`
	// DeleteManifests are removed by digest.
	DeleteManifests []ManifestAction `json:"deleteManifests"`
	// DeleteBlobs are referenced only by deleted manifests.
	DeleteBlobs []BlobAction `json:"deleteBlobs"`
	// KeptManifests are children or referrers of a target that a surviving
	// tag still uses.
	KeptManifests []Kept `json:"keptManifests"`
	// KeptBlobs are blobs of deleted manifests that survivors still use.
	KeptBlobs []Kept `json:"keptBlobs"`
	// LeakedLayers are the layers taken to hold the leak.
	LeakedLayers []image.Digest `json:"leakedLayers"`
	// Sharing lists surviving images and caches that contain a leaked layer:
	// they leak too.
	Sharing []Sharing `json:"sharing"`
	// Indexes lists multi-arch indexes that list a target as a platform.
	Indexes []IndexImpact `json:"indexes"`
	// Refusals, when not empty, forbid applying the plan.
	Refusals []Refusal `json:"refusals"`
	// SurvivingTags is every tag that must keep its digest.
	SurvivingTags map[string]image.Digest `json:"survivingTags"`
	// Notes say what the plan cannot see or do.
	Notes []string `json:"notes"`
	// Inventory counts what was examined.
	Inventory Counts `json:"inventory"`
}

// Target is one requested reference.
type Target struct {
	Ref    string       `json:"ref"`
	Digest image.Digest `json:"digest"`
	Kind   image.Kind   `json:"kind"`
	// Reason is "requested", "also-tag" or "sharing" (added by
	// --include-sharing).
	Reason string `json:"reason"`
}

// TagAction is one tag to delete.
type TagAction struct {
	Tag    string       `json:"tag"`
	Digest image.Digest `json:"digest"`
	// Reason: "target", "also-tag", "referrers-tag", "cosign-tag".
	Reason string `json:"reason"`
}

// ManifestAction is one manifest to delete by digest.
type ManifestAction struct {
	Digest    image.Digest `json:"digest"`
	MediaType string       `json:"mediaType"`
	Kind      image.Kind   `json:"kind"`
	// Role: "target", "child", "attestation", "referrer", "referrers-index".
	Role     string `json:"role"`
	Platform string `json:"platform,omitempty"`
}

// BlobAction is one blob to delete.
type BlobAction struct {
	Digest    image.Digest `json:"digest"`
	MediaType string       `json:"mediaType,omitempty"`
	Size      int64        `json:"size"`
	Role      string       `json:"role"`
	Leaked    bool         `json:"leaked,omitempty"`
}

// Kept is a manifest or blob that stays because survivors use it.
type Kept struct {
	Digest image.Digest `json:"digest"`
	Role   string       `json:"role,omitempty"`
	// Tags are the surviving tags that reach a user of it.
	Tags []string `json:"tags"`
	// Manifests are the surviving manifests referencing it.
	Manifests []image.Digest `json:"manifests"`
	Leaked    bool           `json:"leaked,omitempty"`
}

// Sharing is a surviving manifest that contains a leaked layer.
type Sharing struct {
	Manifest image.Digest   `json:"manifest"`
	Kind     image.Kind     `json:"kind"`
	Tags     []string       `json:"tags"`
	Layers   []image.Digest `json:"layers"`
	// Included is true when --include-sharing made its tags targets.
	Included bool `json:"included"`
}

// IndexImpact is an index that lists a target as one of its manifests.
type IndexImpact struct {
	Index    image.Digest `json:"index"`
	Tags     []string     `json:"tags"`
	Child    image.Digest `json:"child"`
	Platform string       `json:"platform,omitempty"`
	// Action is "delete-whole-index" (its tags were named or included) or
	// "refuse" (deleting the child alone would break the index).
	Action string `json:"action"`
}

// Refusal is one reason the plan must not be applied.
type Refusal struct {
	Reason string       `json:"reason"`
	Digest image.Digest `json:"digest,omitempty"`
	Tags   []string     `json:"tags,omitempty"`
	// Fix says in words what resolves the refusal; AlsoTags and
	// IncludeSharing say it as Options a caller can set.
	Fix            string   `json:"fix"`
	AlsoTags       []string `json:"alsoTags,omitempty"`
	IncludeSharing bool     `json:"includeSharing,omitempty"`
}

// Counts summarise an inventory.
type Counts struct {
	Tags         int  `json:"tags"`
	Manifests    int  `json:"manifests"`
	Blobs        int  `json:"blobs"`
	ReferrersAPI bool `json:"referrersAPI"`
}

// Refused reports whether the plan has refusals.
func (p *Plan) Refused() bool { return len(p.Refusals) > 0 }

// Err returns ErrRefused wrapped with the reasons, or nil.
func (p *Plan) Err() error {
	if !p.Refused() {
		return nil
	}
	var rs []string
	for _, r := range p.Refusals {
		rs = append(rs, r.Reason+" ("+r.Fix+")")
	}
	return fmt.Errorf("%w: %s", ErrRefused, strings.Join(rs, "; "))
}

// NewPlan decides what purging opts.Targets from inv means. It does no I/O.
// A target the inventory does not hold is an error (ErrBadTarget); a purge
// that would break or silently keep other content yields a plan with
// Refusals.
func NewPlan(inv *Inventory, opts Options) (*Plan, error) {
	var targets []Target
	for _, ref := range opts.Targets {
		t, err := resolve(inv, ref, "requested")
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: no targets given", ErrBadTarget)
	}
	for _, tag := range opts.AlsoTags {
		t, err := resolve(inv, tag, "also-tag")
		if err != nil {
			return nil, fmt.Errorf("also-delete tag: %w", err)
		}
		targets = append(targets, t)
	}
	p := build(inv, targets, opts.LeakedLayers)
	if !opts.IncludeSharing || (len(p.Sharing) == 0 && len(p.Indexes) == 0) {
		return p, nil
	}
	// --include-sharing: every tag of a sharing image or of an index
	// listing a target becomes a target; the leaked layers stay those of
	// the original targets.
	seen := map[string]bool{}
	for _, t := range targets {
		seen[t.Ref] = true
	}
	more := append([]Target(nil), targets...)
	addTag := func(tag string) {
		if seen[tag] {
			return
		}
		seen[tag] = true
		more = append(more, Target{Ref: tag, Digest: inv.Tags[tag], Kind: kindOf(inv, inv.Tags[tag]), Reason: "sharing"})
	}
	for _, s := range p.Sharing {
		for _, tag := range s.Tags {
			addTag(tag)
		}
	}
	for _, ix := range p.Indexes {
		for _, tag := range ix.Tags {
			addTag(tag)
		}
	}
	leaked := p.LeakedLayers
	sharing, indexes := p.Sharing, p.Indexes
	p2 := build(inv, more, leaked)
	for i := range sharing {
		// Untagged sharers cannot be named: they stay listed as leaking.
		sharing[i].Included = len(sharing[i].Tags) > 0
	}
	for i := range indexes {
		if len(indexes[i].Tags) > 0 {
			indexes[i].Action = "delete-whole-index"
		}
	}
	seenS := set[image.Digest]{}
	for _, x := range sharing {
		seenS.add(x.Manifest)
	}
	for _, x := range p2.Sharing {
		if seenS.add(x.Manifest) {
			sharing = append(sharing, x)
		}
	}
	p2.Sharing = sharing
	seenI := set[string]{}
	for _, x := range indexes {
		seenI.add(string(x.Index) + string(x.Child))
	}
	for _, x := range p2.Indexes {
		if seenI.add(string(x.Index) + string(x.Child)) {
			indexes = append(indexes, x)
		}
	}
	p2.Indexes = indexes
	return p2, nil
}

func kindOf(inv *Inventory, d image.Digest) image.Kind {
	if m := inv.Manifests[d]; m != nil {
		return m.Kind
	}
	return ""
}

// resolve turns a tag or digest into a Target.
func resolve(inv *Inventory, ref, reason string) (Target, error) {
	ref = strings.TrimPrefix(ref, "@")
	if strings.Contains(ref, ":") {
		d, err := image.ParseDigest(ref)
		if err != nil {
			return Target{}, fmt.Errorf("%w: %q is neither a tag nor a digest: %v", ErrBadTarget, ref, err)
		}
		if inv.Manifests[d] == nil {
			return Target{}, fmt.Errorf("%w: manifest %s is not in %s (check the digest; untagged manifests must be named so the inventory fetches them)", ErrBadTarget, d, inv.Repository)
		}
		return Target{Ref: string(d), Digest: d, Kind: inv.Manifests[d].Kind, Reason: reason}, nil
	}
	d, ok := inv.Tags[ref]
	if !ok {
		return Target{}, fmt.Errorf("%w: tag %q does not exist in %s", ErrBadTarget, ref, inv.Repository)
	}
	return Target{Ref: ref, Digest: d, Kind: kindOf(inv, d), Reason: reason}, nil
}

type set[T comparable] map[T]bool

func (s set[T]) add(v T) bool {
	if s[v] {
		return false
	}
	s[v] = true
	return true
}

// graph holds derived views of an inventory.
type graph struct {
	inv *Inventory
	// refTags maps a subject to its fallback and cosign tags.
	refTags map[image.Digest][]string
	// parents maps a manifest to the indexes listing it.
	parents map[image.Digest][]image.Digest
}

func newGraph(inv *Inventory) *graph {
	g := &graph{inv: inv, refTags: map[image.Digest][]string{}, parents: map[image.Digest][]image.Digest{}}
	for _, tag := range sortedKeys(inv.Tags) {
		if subj, _, ok := ReferrerSubject(tag); ok {
			g.refTags[subj] = append(g.refTags[subj], tag)
		}
	}
	for _, d := range sortedDigests(inv.Manifests) {
		for _, c := range inv.Manifests[d].Children {
			g.parents[c.Digest] = append(g.parents[c.Digest], d)
		}
	}
	return g
}

// reach returns the manifests reachable from the given tags through index
// children.
func (g *graph) reach(tags []string) set[image.Digest] {
	out := set[image.Digest]{}
	var stack []image.Digest
	for _, t := range tags {
		stack = append(stack, g.inv.Tags[t])
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !out.add(d) {
			continue
		}
		if m := g.inv.Manifests[d]; m != nil {
			for _, c := range m.Children {
				stack = append(stack, c.Digest)
			}
		}
	}
	return out
}

// tagsReaching maps every manifest to the tags (among the given) that reach it.
func (g *graph) tagsReaching(tags []string) map[image.Digest][]string {
	out := map[image.Digest][]string{}
	for _, t := range tags {
		for d := range g.reach([]string{t}) {
			out[d] = append(out[d], t)
		}
	}
	for d := range out {
		sort.Strings(out[d])
	}
	return out
}

// planner holds the state build passes between its phases. Its fields are
// named after the sets of the fixpoint: T the targets' digests, C the doomed
// manifests (digest -> role), S the manifests survivors reach.
type planner struct {
	inv     *Inventory
	g       *graph
	p       *Plan
	targets []Target

	named map[string]string // tag -> reason, the tags the user named
	T     set[image.Digest]
	C     map[image.Digest]string // digest -> role
	del   map[string]string       // tag -> reason
	S     set[image.Digest]

	survTags []string
	reaching map[image.Digest][]string
	// users maps a blob to the surviving manifests referencing it.
	users  map[image.Digest][]image.Digest
	leaked set[image.Digest]
}

// build runs the planner's phases in order; each phase reads what the
// earlier ones decided.
func build(inv *Inventory, targets []Target, leakedOverride []image.Digest) *Plan {
	pl := &planner{
		inv:     inv,
		g:       newGraph(inv),
		p:       &Plan{Repository: inv.Repository, Targets: targets},
		targets: targets,
	}
	pl.collectTargets()
	pl.fixpoint()
	pl.survivors()
	pl.conflicts()
	pl.manifests()
	pl.tags()
	pl.keptManifests()
	pl.blobUsers()
	pl.leakedLayers(leakedOverride)
	pl.blobs()
	pl.sharing()
	pl.notes()
	return pl.p
}

// collectTargets fills T with the targets' digests and named with the tags
// the user named.
func (pl *planner) collectTargets() {
	pl.named = map[string]string{}
	pl.T = set[image.Digest]{}
	for _, t := range pl.targets {
		pl.T.add(t.Digest)
		if _, isTag := pl.inv.Tags[t.Ref]; isTag {
			r := "target"
			if t.Reason == "also-tag" {
				r = "also-tag"
			}
			if _, ok := pl.named[t.Ref]; !ok {
				pl.named[t.Ref] = r
			}
		}
	}
}

// fixpoint computes the doomed set C (closure of the targets through
// children and referrers, stopping at what survivors reach), the tags to
// delete and the survivors S, until S no longer changes.
func (pl *planner) fixpoint() {
	g := pl.g
	pl.S = set[image.Digest]{}
	for iter := 0; iter < 16; iter++ {
		pl.C = g.closure(pl.T, pl.S)
		pl.del = map[string]string{}
		for t, r := range pl.named {
			pl.del[t] = r
		}
		for d := range pl.C {
			for _, tag := range g.refTags[d] {
				if _, ok := pl.del[tag]; !ok {
					_, kind, _ := ReferrerSubject(tag)
					if kind == "referrers" {
						pl.del[tag] = "referrers-tag"
					} else {
						pl.del[tag] = "cosign-tag"
					}
				}
			}
		}
		var surv []string
		for _, tag := range sortedKeys(pl.inv.Tags) {
			if _, ok := pl.del[tag]; !ok {
				surv = append(surv, tag)
			}
		}
		S2 := g.reach(surv)
		same := len(S2) == len(pl.S)
		for d := range S2 {
			if !pl.S[d] {
				same = false
			}
		}
		pl.S = S2
		if same {
			break
		}
	}
}

// survivors records the tags that keep their digest and the surviving tags
// reaching each manifest.
func (pl *planner) survivors() {
	pl.p.SurvivingTags = map[string]image.Digest{}
	for _, tag := range sortedKeys(pl.inv.Tags) {
		if _, ok := pl.del[tag]; !ok {
			pl.survTags = append(pl.survTags, tag)
			pl.p.SurvivingTags[tag] = pl.inv.Tags[tag]
		}
	}
	pl.reaching = pl.g.tagsReaching(pl.survTags)
}

// conflicts refuses targets that survivors still reach: tags pointing at a
// target digest, and indexes listing a target. A target is then doomed even
// when refused: the plan shows the intent.
func (pl *planner) conflicts() {
	inv, p := pl.inv, pl.p
	for _, d := range sortedDigests(pl.T) {
		if !pl.S[d] {
			continue
		}
		var direct []string
		for _, tag := range pl.survTags {
			if inv.Tags[tag] == d {
				direct = append(direct, tag)
			}
		}
		if len(direct) > 0 {
			p.Refusals = append(p.Refusals, Refusal{
				Reason: fmt.Sprintf("deleting %s by digest would also delete the tags %s that point at it", d, strings.Join(direct, ", ")),
				Digest: d, Tags: direct,
				Fix: "delete those tags too: " + strings.Join(direct, ", "), AlsoTags: direct,
			})
		}
		for _, parent := range pl.g.parents[d] {
			if !pl.S[parent] || pl.T[parent] {
				continue
			}
			ix := IndexImpact{Index: parent, Tags: pl.reaching[parent], Child: d, Action: "refuse"}
			for _, c := range inv.Manifests[parent].Children {
				if c.Digest == d {
					ix.Platform = c.Platform
				}
			}
			p.Indexes = append(p.Indexes, ix)
			p.Refusals = append(p.Refusals, Refusal{
				Reason: fmt.Sprintf("index %s (tags %s) lists %s as platform %q: deleting it alone breaks the index, and the index serves the leak", parent, listOr(ix.Tags, "none"), d, ix.Platform),
				Digest: parent, Tags: ix.Tags,
				Fix:      "delete the whole index: its tags " + strings.Join(ix.Tags, ", ") + " too, or every image sharing the leak",
				AlsoTags: ix.Tags, IncludeSharing: true,
			})
		}
	}
	for d := range pl.T {
		if _, ok := pl.C[d]; !ok {
			pl.C[d] = "target"
		}
	}
}

// manifests lists the doomed manifests in deletion order.
func (pl *planner) manifests() {
	inv, p := pl.inv, pl.p
	for _, d := range sortedDigests(pl.C) {
		m := inv.Manifests[d]
		a := ManifestAction{Digest: d, Role: pl.C[d]}
		if m != nil {
			a.MediaType, a.Kind = m.MediaType, m.Kind
		}
		for _, parent := range pl.g.parents[d] {
			if _, ok := pl.C[parent]; ok {
				for _, c := range inv.Manifests[parent].Children {
					if c.Digest == d && c.Platform != "" && c.Platform != "unknown/unknown" {
						a.Platform = c.Platform
					}
				}
			}
		}
		p.DeleteManifests = append(p.DeleteManifests, a)
	}
	sort.SliceStable(p.DeleteManifests, func(i, j int) bool {
		a, b := p.DeleteManifests[i], p.DeleteManifests[j]
		if pa, pb := manifestPhase(a), manifestPhase(b); pa != pb {
			return pa < pb
		}
		// Among referrers, a fallback index goes before what it lists
		// (indexes before their children, as in later phases).
		if ra, rb := a.Role == "referrers-index", b.Role == "referrers-index"; ra != rb {
			return ra
		}
		return a.Digest < b.Digest
	})
}

// tags lists the tags to delete.
func (pl *planner) tags() {
	for _, tag := range sortedKeys(pl.del) {
		pl.p.DeleteTags = append(pl.p.DeleteTags, TagAction{Tag: tag, Digest: pl.inv.Tags[tag], Reason: pl.del[tag]})
	}
}

// keptManifests lists children and referrers of doomed manifests that
// survivors reach.
func (pl *planner) keptManifests() {
	inv := pl.inv
	kept := set[image.Digest]{}
	for d := range pl.C {
		m := inv.Manifests[d]
		if m == nil {
			continue
		}
		var near []image.Digest
		for _, c := range m.Children {
			near = append(near, c.Digest)
		}
		near = append(near, m.Referrers...)
		for _, n := range near {
			if _, doomed := pl.C[n]; !doomed && !pl.T[n] {
				kept.add(n)
			}
		}
	}
	for _, d := range sortedDigests(kept) {
		k := Kept{Digest: d, Tags: nonNil(pl.reaching[d]), Manifests: []image.Digest{}}
		if m := inv.Manifests[d]; m != nil {
			k.Role = string(m.Kind)
		}
		for _, parent := range pl.g.parents[d] {
			if _, doomed := pl.C[parent]; !doomed {
				k.Manifests = append(k.Manifests, parent)
			}
		}
		pl.p.KeptManifests = append(pl.p.KeptManifests, k)
	}
}

// blobUsers counts blob references of survivors: every inventoried manifest
// the plan does not delete, whether a tag reaches it or not. An untagged
// referrer of a surviving image (a signature or SBOM found only through the
// referrers API or its subject field) needs its blobs as much as a tagged
// image does: reachability from tags must not decide this.
func (pl *planner) blobUsers() {
	pl.users = map[image.Digest][]image.Digest{}
	for _, d := range sortedDigests(pl.inv.Manifests) {
		if _, doomed := pl.C[d]; doomed {
			continue
		}
		for _, b := range pl.inv.Manifests[d].Blobs {
			pl.users[b.Digest] = append(pl.users[b.Digest], d)
		}
	}
}

// leakedLayers decides the layers taken to hold the leak: the override
// when given, else the requested targets' layers above the longest base
// they share with a surviving image.
func (pl *planner) leakedLayers(leakedOverride []image.Digest) {
	inv := pl.inv
	leaked := set[image.Digest]{}
	if len(leakedOverride) > 0 {
		for _, d := range leakedOverride {
			leaked.add(d)
		}
	} else {
		// Only what was requested leaks: not also-tags or included sharers.
		req := set[image.Digest]{}
		for _, t := range pl.targets {
			if t.Reason == "requested" {
				req.add(t.Digest)
			}
		}
		creq := pl.g.closure(req, pl.S)
		for _, d := range sortedDigests(creq) {
			m := inv.Manifests[d]
			if m == nil || !m.IsImage() || creq[d] != "target" && creq[d] != "child" {
				continue
			}
			ls := m.Layers()
			base := 0
			for _, s := range sortedDigests(inv.Manifests) {
				sm := inv.Manifests[s]
				if _, doomed := pl.C[s]; doomed || !sm.IsImage() {
					continue
				}
				if n := commonPrefix(ls, sm.Layers()); n < len(ls) && n > base {
					base = n
				}
			}
			for _, l := range ls[base:] {
				leaked.add(l)
			}
		}
	}
	pl.leaked = leaked
	pl.p.LeakedLayers = sortedDigests(leaked)
}

// blobs sorts the doomed manifests' blobs into deleted and kept (used by
// a survivor).
func (pl *planner) blobs() {
	p := pl.p
	blobs := map[image.Digest]Blob{}
	for d := range pl.C {
		if m := pl.inv.Manifests[d]; m != nil {
			for _, b := range m.Blobs {
				if _, ok := blobs[b.Digest]; !ok || blobs[b.Digest].Role != "config" && b.Role == "layer" {
					blobs[b.Digest] = b
				}
			}
		}
	}
	for _, bd := range sortedDigests(blobs) {
		b := blobs[bd]
		if us := pl.users[bd]; len(us) > 0 {
			k := Kept{Digest: bd, Role: b.Role, Manifests: us, Leaked: pl.leaked[bd]}
			ts := set[string]{}
			for _, u := range us {
				for _, t := range pl.g.userTags(u, pl.reaching) {
					ts.add(t)
				}
			}
			k.Tags = nonNil(sortedKeys(ts))
			p.KeptBlobs = append(p.KeptBlobs, k)
			continue
		}
		p.DeleteBlobs = append(p.DeleteBlobs, BlobAction{Digest: bd, MediaType: b.MediaType, Size: b.Size, Role: b.Role, Leaked: pl.leaked[bd]})
	}
}

// sharing lists survivors containing a leaked layer.
func (pl *planner) sharing() {
	p := pl.p
	for _, d := range sortedDigests(pl.inv.Manifests) {
		if _, doomed := pl.C[d]; doomed {
			continue
		}
		m := pl.inv.Manifests[d]
		var hit []image.Digest
		hs := set[image.Digest]{}
		for _, b := range m.Blobs {
			if pl.leaked[b.Digest] && hs.add(b.Digest) {
				hit = append(hit, b.Digest)
			}
		}
		if len(hit) == 0 {
			continue
		}
		p.Sharing = append(p.Sharing, Sharing{Manifest: d, Kind: m.Kind, Tags: nonNil(pl.reaching[d]), Layers: hit})
	}
	if len(p.Sharing) > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%d surviving manifest(s) contain a leaked layer and LEAK TOO; the layer stays pullable through them (purge them as well, or name the leaked layer exactly)", len(p.Sharing)))
	}
}

// notes adds the inventory counts and what the plan cannot see or do, and
// turns nil lists into empty ones.
func (pl *planner) notes() {
	inv, p := pl.inv, pl.p
	allBlobs := set[image.Digest]{}
	for _, m := range inv.Manifests {
		for _, b := range m.Blobs {
			allBlobs.add(b.Digest)
		}
	}
	p.Inventory = Counts{Tags: len(inv.Tags), Manifests: len(inv.Manifests), Blobs: len(allBlobs), ReferrersAPI: inv.ReferrersAPI}
	if !inv.ReferrersAPI {
		p.Notes = append(p.Notes, "the registry has no referrers API: referrers were found through sha256-<hex> fallback tags, cosign .sig/.att/.sbom tags and subject fields only")
	}
	p.Notes = append(p.Notes,
		"the registry API lists no untagged manifests: an untagged manifest that nothing tagged points at is invisible here, and would lose blobs deleted by this plan",
		"blob deletes unlink blobs from this repository only; repositories that mounted the same blobs keep serving them (check with `strata where DIGEST --catalog HOST`)",
		"deleted manifests and blobs stay in the registry's storage until its garbage collection runs")
	for _, d := range inv.Missing {
		p.Notes = append(p.Notes, fmt.Sprintf("manifest %s is referenced but the registry does not serve it (dangling index child or deleted subject)", d))
	}
	p.DeleteTags = nonNil(p.DeleteTags)
	p.DeleteManifests = nonNil(p.DeleteManifests)
	p.DeleteBlobs = nonNil(p.DeleteBlobs)
	p.KeptManifests = nonNil(p.KeptManifests)
	p.KeptBlobs = nonNil(p.KeptBlobs)
	p.LeakedLayers = nonNil(p.LeakedLayers)
	p.Sharing = nonNil(p.Sharing)
	p.Indexes = nonNil(p.Indexes)
	p.Refusals = nonNil(p.Refusals)
}

// closure returns the manifests doomed with T: T, their index children and
// referrers (recursively), fallback indexes and cosign manifests of doomed
// subjects — skipping what survivors reach (S). The value is the role.
func (g *graph) closure(T, S set[image.Digest]) map[image.Digest]string {
	C := map[image.Digest]string{}
	type item struct {
		d    image.Digest
		role string
	}
	var queue []item
	for _, d := range sortedDigests(T) {
		queue = append(queue, item{d, "target"})
	}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if _, ok := C[it.d]; ok {
			continue
		}
		if S[it.d] && !T[it.d] {
			continue
		}
		C[it.d] = it.role
		m := g.inv.Manifests[it.d]
		if m == nil {
			continue
		}
		for _, c := range m.Children {
			role := "child"
			if c.AttestationFor != "" || g.kind(c.Digest) == image.KindAttestation {
				role = "attestation"
			}
			queue = append(queue, item{c.Digest, role})
		}
		for _, r := range m.Referrers {
			queue = append(queue, item{r, "referrer"})
		}
		for _, tag := range g.refTags[it.d] {
			_, kind, _ := ReferrerSubject(tag)
			role := "referrer"
			if kind == "referrers" {
				role = "referrers-index"
			}
			queue = append(queue, item{g.inv.Tags[tag], role})
		}
	}
	return C
}

// userTags returns the tags reaching d or, for an untagged referrer, the
// tags reaching its subject (the signature of latest is kept for latest),
// following subjects up a chain of referrers.
func (g *graph) userTags(d image.Digest, reaching map[image.Digest][]string) []string {
	seen := set[image.Digest]{}
	for d != "" && seen.add(d) {
		if ts := reaching[d]; len(ts) > 0 {
			return ts
		}
		m := g.inv.Manifests[d]
		if m == nil {
			return nil
		}
		d = m.Subject
	}
	return nil
}

func (g *graph) kind(d image.Digest) image.Kind {
	if m := g.inv.Manifests[d]; m != nil {
		return m.Kind
	}
	return ""
}

// manifestPhase orders manifest deletes: referrers and attestations (0),
// indexes (2), other manifests (3). Tags are phase 1.
func manifestPhase(a ManifestAction) int {
	switch {
	case a.Role == "referrer" || a.Role == "attestation" || a.Role == "referrers-index":
		return 0
	case image.IsIndex(a.MediaType):
		return 2
	default:
		return 3
	}
}

func commonPrefix(a, b []image.Digest) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func listOr(s []string, empty string) string {
	if len(s) == 0 {
		return empty
	}
	return strings.Join(s, ", ")
}
