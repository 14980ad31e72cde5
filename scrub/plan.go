package scrub

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/secret"
)

// Options configure NewPlan.
type Options struct {
	Selectors Selectors
	// Engine, when set, redacts history findings (it finds the secret again
	// by its fingerprint) and rescans the result: Verify fails if any
	// removed fingerprint is still found.
	Engine *secret.Engine
	// Cache, when set, lists the layers a scan already walked (by their
	// verified blob digest), so only the layers that change are read, and
	// serves the rescan's untouched layers.
	Cache *scan.Cache
	// WorkDir holds the staging directory (default: os.TempDir()).
	WorkDir string
	// MaxLayerBytes caps one layer's uncompressed size (0: no cap).
	MaxLayerBytes int64
	// MaxArchiveBytes caps an archive rewritten to drop members (default 1 GiB).
	MaxArchiveBytes int64
	Logger          *slog.Logger
}

// Plan is what a scrub will write: a plain value for review (Table, JSON),
// plus the staged blobs Apply writes. Close removes the staging directory.
type Plan struct {
	Source  string           `json:"source"`
	OldRoot image.Descriptor `json:"oldRoot"`
	NewRoot image.Descriptor `json:"newRoot"`
	Images  []ImagePlan      `json:"images"`
	// Dropped are attestations (and, from a registry, signatures and
	// referrers) of the old digests: they no longer match and are not
	// carried over. The image must be signed and attested again.
	Dropped []Dropped `json:"dropped"`
	// RemovedPaths counts distinct paths removed (entries and archive
	// members); RedactedFields distinct config fields redacted.
	RemovedPaths   int `json:"removedPaths"`
	RedactedFields int `json:"redactedFields"`
	// UnmatchedFindings are findings no layer or config field matched.
	UnmatchedFindings []string `json:"unmatchedFindings,omitempty"`
	Notes             []string `json:"notes,omitempty"`
	// Reads say which layers were read to plan: listed from the scan
	// cache or by a walk, rewritten from the walk's copy or the blob.
	Reads        ReadStats     `json:"reads"`
	Verification *Verification `json:"verification,omitempty"`
	// Replace is set by PlanReplace.
	Replace *ReplacePlan `json:"replace,omitempty"`

	stage     *stage
	selectors Selectors
}

// ImagePlan is one platform image.
type ImagePlan struct {
	Platform      string           `json:"platform,omitempty"`
	OldManifest   image.Descriptor `json:"oldManifest"`
	NewManifest   image.Descriptor `json:"newManifest"`
	OldConfig     image.Digest     `json:"oldConfig"`
	NewConfig     image.Digest     `json:"newConfig"`
	Layers        []LayerPlan      `json:"layers"`
	ConfigChanges []ConfigChange   `json:"configChanges"`

	oldEntries, newEntries [][]*layer.Entry
	rewritten              []*rewritten
	removedGlobs           []glob
	removedFiles           map[string]bool
}

// LayerPlan is one layer: reused as is, or rewritten.
type LayerPlan struct {
	Index       int               `json:"index"`
	Action      string            `json:"action"` // "reused" or "rewritten"
	Old         image.Descriptor  `json:"old"`
	OldDiffID   image.Digest      `json:"oldDiffID"`
	New         image.Descriptor  `json:"new"`
	NewDiffID   image.Digest      `json:"newDiffID"`
	Compression image.Compression `json:"compression,omitempty"`
	GzipLevel   int               `json:"gzipLevel,omitempty"`
	Removed     []Removed         `json:"removed,omitempty"`
	Members     []MemberRemoval   `json:"members,omitempty"`
}

// Layer actions.
const (
	ActionReused    = "reused"
	ActionRewritten = "rewritten"
)

// Dropped is a manifest, signature or referrer of an old digest that the
// scrubbed image does not carry.
type Dropped struct {
	Digest image.Digest `json:"digest"`
	Kind   string       `json:"kind"` // "attestation", "signature", "referrer"
	For    image.Digest `json:"for"`
	Ref    string       `json:"ref,omitempty"` // tag, for cosign-style tags
}

// Close removes the staged blobs.
func (p *Plan) Close() error {
	if p.stage == nil {
		return nil
	}
	return os.RemoveAll(p.stage.dir)
}

// planner holds NewPlan's working state.
type planner struct {
	opts    Options
	log     *slog.Logger
	src     content.Store
	globs   []glob
	ft      findingTargets
	matched map[string]bool
	blobs   map[image.Digest]*blobEntries
	cache   map[string]*rewritten
	plan    *Plan
}

// NewPlan reads the image root (source.Load of s), rewrites what the
// selectors remove into a staging directory, rebuilds the manifests and
// checks the invariants. Nothing is written outside the staging directory.
func NewPlan(ctx context.Context, s content.Store, root *image.Node, opts Options) (*Plan, error) {
	if opts.Selectors.empty() {
		return nil, fmt.Errorf("%w: no paths, findings, env, labels or build args given", ErrNothingToRemove)
	}
	if opts.MaxArchiveBytes <= 0 {
		opts.MaxArchiveBytes = 1 << 30
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	globs, err := compileGlobs(opts.Selectors.Paths)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.WorkDir, "strata-scrub-")
	if err != nil {
		return nil, fmt.Errorf("staging directory: %w", err)
	}
	pl := &planner{opts: opts, log: log, src: s, globs: globs, ft: sortFindings(opts.Selectors.Findings), matched: map[string]bool{},
		cache: map[string]*rewritten{}, plan: &Plan{OldRoot: root.Descriptor, stage: newStage(dir, s), selectors: withoutSecrets(opts.Selectors)}}
	if n, ok := s.(content.Namer); ok {
		pl.plan.Source = n.Name()
	}
	if err := pl.run(ctx, root); err != nil {
		pl.plan.Close()
		return nil, err
	}
	return pl.plan, nil
}

func (pl *planner) run(ctx context.Context, root *image.Node) error {
	nodes, err := imageNodes(root)
	if err != nil {
		return err
	}
	ims := make([]*image.Image, len(nodes))
	for i, n := range nodes {
		ims[i] = n.Image
	}
	if len(pl.globs) > 0 || len(pl.ft.files) > 0 || len(pl.ft.members) > 0 {
		if pl.blobs, err = pl.listLayers(ctx, ims); err != nil {
			return err
		}
		defer pl.dropSpools()
	} else {
		// Config values only: every layer is reused as is, none is read.
		pl.blobs = emptyListings(ims)
	}
	changed := false
	newDescs := map[image.Digest]image.Descriptor{}
	for _, n := range nodes {
		ip, err := pl.image(ctx, n)
		if err != nil {
			return err
		}
		if ip.NewManifest.Digest != ip.OldManifest.Digest {
			changed = true
		}
		newDescs[ip.OldManifest.Digest] = ip.NewManifest
		pl.plan.Images = append(pl.plan.Images, *ip)
	}
	pl.unmatched()
	if !changed {
		return fmt.Errorf("%w: the selectors match no entry, archive member or config value of %s", ErrNothingToRemove, root.Descriptor.Digest)
	}
	pl.count()
	if root.Image != nil {
		pl.plan.NewRoot = newDescs[root.Descriptor.Digest]
	} else if err := pl.index(root, newDescs); err != nil {
		return err
	}
	pl.plan.stage.root = pl.plan.NewRoot
	pl.plan.Verification, err = verify(ctx, pl.plan, pl.opts)
	return err
}

// dropSpools removes the uncompressed copies the listing walks kept.
func (pl *planner) dropSpools() {
	for _, be := range pl.blobs {
		if be.spool != "" {
			os.Remove(be.spool)
			be.spool = ""
		}
	}
}

// imageNodes returns the image manifests to scrub: the root, or every
// image of an index (attestations are handled by the index rebuild).
func imageNodes(root *image.Node) ([]*image.Node, error) {
	if root.Image != nil {
		if root.Image.Kind != image.KindImage {
			return nil, fmt.Errorf("%w: %s is a %s manifest; scrub rewrites image manifests and indexes of them", ErrUnsupported, root.Descriptor.Digest, root.Image.Kind)
		}
		return []*image.Node{root}, nil
	}
	if root.Kind != image.KindIndex {
		return nil, fmt.Errorf("%w: %s is a %s", ErrUnsupported, root.Descriptor.Digest, root.Kind)
	}
	var out []*image.Node
	for _, c := range root.Children {
		switch {
		case c.Image != nil && c.Image.Kind == image.KindImage:
			out = append(out, c)
		case c.Image != nil && c.Image.Kind == image.KindAttestation:
		default:
			return nil, fmt.Errorf("%w: index %s lists a %s (%s); scrub rebuilds indexes of images and attestations only", ErrUnsupported, root.Descriptor.Digest, c.Kind, c.Descriptor.Digest)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: index %s lists no image", ErrUnsupported, root.Descriptor.Digest)
	}
	return out, nil
}

// image plans one image manifest.
func (pl *planner) image(ctx context.Context, n *image.Node) (*ImagePlan, error) {
	im := n.Image
	ip := &ImagePlan{Platform: im.Platform.String(), OldManifest: n.Descriptor, OldConfig: im.ConfigRef.Digest,
		removedGlobs: pl.globs, removedFiles: map[string]bool{}}
	layers := make([][]*layer.Entry, len(im.Layers))
	for i, l := range im.Layers {
		layers[i] = pl.blobs[l.Descriptor.Digest].entries
	}
	d := newDecider(im, layers, pl.globs, &pl.ft, pl.matched)
	if err := d.run(); err != nil {
		return nil, err
	}
	ip.oldEntries = append([][]*layer.Entry(nil), layers...)
	ip.newEntries = make([][]*layer.Entry, len(layers))
	ip.rewritten = make([]*rewritten, len(layers))
	diffIDs := make([]image.Digest, len(layers))
	for i, l := range im.Layers {
		lp, rw, err := pl.layer(ctx, l, pl.blobs[l.Descriptor.Digest], d.edits[i])
		if err != nil {
			return nil, err
		}
		ip.Layers = append(ip.Layers, lp)
		ip.rewritten[i] = rw
		ip.newEntries[i] = layers[i]
		if rw != nil {
			// The rewrite read every header in full (a cached listing
			// has paths and types only).
			ip.oldEntries[i] = rw.old
		}
		diffIDs[i] = lp.NewDiffID
		for _, r := range lp.Removed {
			if r.Reason == ReasonFinding {
				ip.removedFiles[r.Path[1:]] = true
			}
		}
	}
	if err := pl.configAndManifest(ctx, n, ip, diffIDs); err != nil {
		return nil, err
	}
	return ip, nil
}

// layer plans (and if needed rewrites) one layer.
func (pl *planner) layer(ctx context.Context, l image.Layer, be *blobEntries, ed *layerEdit) (LayerPlan, *rewritten, error) {
	lp := LayerPlan{Index: l.Index, Action: ActionReused, Old: l.Descriptor, OldDiffID: l.DiffID, New: l.Descriptor, NewDiffID: l.DiffID}
	if lp.OldDiffID == "" {
		lp.OldDiffID = pl.blobs[l.Descriptor.Digest].res.DiffID
		lp.NewDiffID = lp.OldDiffID
	}
	if ed.empty() {
		return lp, nil, nil
	}
	key := ed.key(l.Descriptor.Digest)
	rw := pl.cache[key]
	if rw == nil {
		pl.log.Debug("rewriting layer", "index", l.Index, "digest", l.Descriptor.Digest, "drop", len(ed.drop), "archives", len(ed.members))
		var err error
		if rw, err = rewriteLayer(ctx, pl.src, l, be, ed, pl.plan.stage.dir, pl.opts.MaxArchiveBytes, pl.opts.Engine); err != nil {
			return lp, nil, err
		}
		if rw.fromSpool {
			pl.plan.Reads.RewrittenFromSpool++
		} else {
			pl.plan.Reads.RewrittenFromBlob++
		}
		pl.cache[key] = rw
		pl.plan.stage.files[rw.desc.Digest] = rw.file
	}
	lp.Action, lp.New, lp.NewDiffID = ActionRewritten, rw.desc, rw.diffID
	lp.Compression, lp.GzipLevel, lp.Members = rw.compression, rw.level, rw.members
	for _, r := range ed.drop {
		lp.Removed = append(lp.Removed, r)
	}
	sort.Slice(lp.Removed, func(a, b int) bool { return lp.Removed[a].Path < lp.Removed[b].Path })
	return lp, rw, nil
}

// unmatched lists file findings no layer matched.
func (pl *planner) unmatched() {
	seen := map[string]bool{}
	for d, files := range pl.ft.files {
		for p := range files {
			if !pl.matched[string(d)+" "+p] && !seen[p] && !pl.matchedAnyLayer(p) {
				seen[p] = true
				pl.plan.UnmatchedFindings = append(pl.plan.UnmatchedFindings, "/"+p)
			}
		}
	}
	sort.Strings(pl.plan.UnmatchedFindings)
}

func (pl *planner) matchedAnyLayer(p string) bool {
	for k := range pl.matched {
		if len(k) > len(p) && k[len(k)-len(p)-1:] == " "+p {
			return true
		}
	}
	return false
}

// count fills the plan's totals.
func (pl *planner) count() {
	paths, fields := map[string]bool{}, map[string]bool{}
	for _, ip := range pl.plan.Images {
		for _, lp := range ip.Layers {
			for _, r := range lp.Removed {
				if r.Reason != ReasonWhiteout {
					paths[r.Path] = true
				}
			}
			for _, m := range lp.Members {
				for _, x := range m.Members {
					paths[m.Archive+"!"+x] = true
				}
			}
		}
		for _, c := range ip.ConfigChanges {
			fields[c.Field] = true
		}
	}
	pl.plan.RemovedPaths, pl.plan.RedactedFields = len(paths), len(fields)
}

func itoa(n int) string { return strconv.Itoa(n) }

// Selectors returns the selectors the plan was made with.
func (p *Plan) Selectors() Selectors { return p.selectors }

// withoutSecrets copies sel with every finding's Secret cleared (a report
// made with --show-secrets holds them), so journals never store one.
func withoutSecrets(sel Selectors) Selectors {
	fs := make([]scan.Finding, len(sel.Findings))
	copy(fs, sel.Findings)
	for i := range fs {
		fs[i].Secret = ""
	}
	sel.Findings = fs
	return sel
}
