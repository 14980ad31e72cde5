package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/secret"
)

// assembler holds Assemble's state across its phases: coverage, then each
// image's findings.
type assembler struct {
	opts    Options
	log     *slog.Logger
	eng     *secret.Engine
	plan    *Plan
	results map[string]*LayerResult
	res     *Result
	err     error // the first error; assembly goes on
}

func (a *assembler) fail(err error) {
	if err != nil && a.err == nil {
		a.err = err
	}
}

// coverage sums the figures of the plan's layers and lists the files they
// skipped and the layers whose content contradicts their config's diff_id.
func (a *assembler) coverage() {
	c := &a.res.Coverage
	c.Images = len(a.plan.images)
	c.Layers = len(a.plan.layers)
	c.LayerRefs = a.plan.layerRefs
	nskip := 0
	for _, j := range a.plan.layers {
		if lr := a.results[j.Key]; lr != nil {
			nskip += len(lr.skips)
		}
	}
	if nskip > 0 {
		c.Skipped = make([]Skip, 0, nskip)
	}
	for _, j := range a.plan.layers {
		lr := a.results[j.Key]
		if lr == nil {
			continue
		}
		if lr.FromCache {
			c.LayersFromCache++
		}
		c.Files += lr.Files
		c.FilesScanned += lr.Scanned
		c.BinarySkipped += lr.Binary
		c.ArchiveMembers += lr.Members
		c.Bytes += lr.Bytes
		c.LayerBytes += lr.Size
		for _, s := range lr.skips {
			c.Skipped = append(c.Skipped, Skip{Layer: image.Digest(j.Key), Path: s.Path, Reason: s.Reason})
		}
	}
	var fsLayers []image.Layer
	for _, pi := range a.plan.images {
		if fsKind(pi.im.Kind) {
			fsLayers = append(fsLayers, pi.im.Layers...)
		}
	}
	c.Mismatched = a.mismatches(fsLayers)
}

// images adds each planned image's findings: its layers' and config's, or
// its attestation statements'; other manifests' layers are not scanned.
func (a *assembler) images(ctx context.Context) {
	res := a.res
	for _, pi := range a.plan.images {
		if ctx.Err() != nil {
			break
		}
		switch {
		case fsKind(pi.im.Kind):
			fs, err := a.imageFindings(ctx, pi.t, pi.im)
			res.Findings = append(res.Findings, fs...)
			a.fail(err)
			fs, err = a.configFindings(ctx, pi.t, pi.im, &res.Coverage)
			res.Findings = append(res.Findings, fs...)
			a.fail(err)
		case pi.im.Kind == image.KindAttestation:
			fs, err := a.attestationFindings(ctx, pi.t, pi.im, &res.Coverage)
			res.Findings = append(res.Findings, fs...)
			a.fail(err)
		default:
			for _, l := range pi.im.Layers {
				res.Coverage.NotScanned = append(res.Coverage.NotScanned, Skip{Layer: l.Descriptor.Digest,
					Reason: fmt.Sprintf("%s layer of a %s manifest %s is not a filesystem", l.Descriptor.MediaType, pi.im.Kind, pi.im.Manifest.Digest)})
			}
		}
	}
}

// missing is ErrMissingLayers naming the plan's layers without a result,
// or nil.
func (a *assembler) missing() error {
	var keys []string
	for _, j := range a.plan.layers {
		if a.results[j.Key] == nil {
			keys = append(keys, j.Key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	const show = 3
	more := ""
	if len(keys) > show {
		more = fmt.Sprintf(" and %d more", len(keys)-show)
		keys = keys[:show]
	}
	return fmt.Errorf("%w: no result for %s%s (scan them first)", ErrMissingLayers, strings.Join(keys, ", "), more)
}

// mismatches reports, once per blob and claim, the layers whose diff_id as
// read differs from the one their config claims.
func (a *assembler) mismatches(layers []image.Layer) []Skip {
	var out []Skip
	seen := map[[2]image.Digest]bool{}
	for _, l := range layers {
		lr := a.results[layerKey(l)]
		if lr == nil || lr.diffID == "" || l.DiffID == "" || l.DiffID.Algorithm() != lr.diffID.Algorithm() || l.DiffID == lr.diffID {
			continue
		}
		k := [2]image.Digest{l.Descriptor.Digest, l.DiffID}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, Skip{Layer: l.Descriptor.Digest, Reason: fmt.Sprintf(
			"the config claims diff_id %s but the layer's content is %s: the image is inconsistent (a pull that checks diff_ids refuses it); the content the manifest's digest names was scanned", l.DiffID, lr.diffID)})
	}
	return out
}

// entries returns a layer's path listing, reading it from Options.Results
// if the result came from there.
func (a *assembler) entries(ctx context.Context, key string, lr *LayerResult) ([]entryRec, error) {
	if lr.listed {
		return lr.entries, nil
	}
	if a.opts.Results == nil {
		return nil, fmt.Errorf("layer %s: %w and no result store to read it from", key, ErrNoListing)
	}
	blob, err := a.opts.Results.LayerListing(ctx, key, a.eng.RulesetHash())
	if err != nil {
		return nil, fmt.Errorf("read the path listing of layer %s: %w", key, err)
	}
	if blob == nil {
		return nil, fmt.Errorf("layer %s: %w in the result store (rescan the layer)", key, ErrNoListing)
	}
	es, _, err := decodeListing(blob)
	if err != nil {
		return nil, fmt.Errorf("path listing of layer %s in the result store (rescan the layer): %w", key, err)
	}
	lr.entries, lr.listed = es, true
	return es, nil
}

// matchState is where a match stands in an image: its overlay state and
// the layer index that hid it (-1: none).
type matchState struct {
	state    overlay.State
	hiddenBy int
}

// imageStates computes the state of each (layer index, file) holding a
// match, across the image's chains: present in any chain wins, else the
// first chain's verdict.
func (a *assembler) imageStates(ctx context.Context, im *image.Image) (map[int]map[string]matchState, error) {
	states := map[int]map[string]matchState{}
	for _, chain := range im.Chains() {
		if err := a.chainStates(ctx, im, chain, states); err != nil {
			return nil, err
		}
	}
	return states, nil
}

// chainStates adds the states of one chain's matches to states.
func (a *assembler) chainStates(ctx context.Context, im *image.Image, chain []int, states map[int]map[string]matchState) error {
	// A match's state depends only on the entries of later layers at its
	// path or at an ancestor of it (overlay.Tree.State), so only those
	// go into the tree, and layers at or below the lowest match are not
	// listed at all (a clean image reads no listing).
	lowest := -1
	paths := map[string]bool{}
	for pos, li := range chain {
		lr := a.results[layerKey(im.Layers[li])]
		if lr == nil || len(lr.matches) == 0 {
			continue
		}
		if lowest < 0 {
			lowest = pos
		}
		for _, m := range lr.matches {
			for p := m.File; !paths[p]; {
				paths[p] = true
				if p == "" {
					break
				}
				if i := strings.LastIndexByte(p, '/'); i >= 0 {
					p = p[:i]
				} else {
					p = ""
				}
			}
		}
	}
	if lowest < 0 {
		return nil
	}
	tree := overlay.New()
	for pos := lowest + 1; pos < len(chain); pos++ {
		key := layerKey(im.Layers[chain[pos]])
		lr := a.results[key]
		if lr == nil {
			continue
		}
		es, err := a.entries(ctx, key, lr)
		if err != nil {
			return err
		}
		for _, e := range es {
			if paths[e.P] && !e.U {
				tree.Add(pos, &layer.Entry{Path: e.P, Type: layer.Type(e.T)})
			}
		}
	}
	for pos, li := range chain {
		lr := a.results[layerKey(im.Layers[li])]
		if lr == nil {
			continue
		}
		for _, m := range lr.matches {
			res := tree.State(pos, &layer.Entry{Path: m.File, Type: layer.TypeFile})
			s := matchState{res.State, -1}
			if res.HiddenBy >= 0 && res.HiddenBy < len(chain) {
				s.hiddenBy = chain[res.HiddenBy]
			}
			if states[li] == nil {
				states[li] = map[string]matchState{}
			}
			if old, ok := states[li][m.File]; !ok || (old.state != overlay.Present && s.state == overlay.Present) {
				states[li][m.File] = s
			}
		}
	}
	return nil
}

// imageFindings places each layer's matches in one image: state, hiding
// layer, build step.
func (a *assembler) imageFindings(ctx context.Context, t *Target, im *image.Image) ([]Finding, error) {
	states, err := a.imageStates(ctx, im)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for li, l := range im.Layers {
		lr := a.results[layerKey(l)]
		if lr == nil {
			continue
		}
		for _, m := range lr.matches {
			if a.eng.Ignored(m.Match) {
				continue
			}
			s, ok := states[li][m.File]
			if !ok {
				s = matchState{overlay.Present, -1} // a cache layer outside every chain
			}
			f := a.finding(t, im, m.Match)
			idx := li
			f.Layer = &idx
			f.LayerDigest, f.DiffID = l.Descriptor.Digest, l.DiffID
			f.State = s.state
			if s.hiddenBy >= 0 {
				h := s.hiddenBy
				f.HiddenBy = &h
			}
			if l.History != nil {
				f.CreatedBy = l.History.CreatedBy
			}
			f.Remediation = remediation(im, &f)
			out = append(out, f)
		}
	}
	return out, nil
}

func (a *assembler) finding(t *Target, im *image.Image, m secret.Match) Finding {
	f := Finding{
		Rule: m.RuleID, Description: m.Description, Severity: m.Severity,
		Image: t.Ref, Manifest: im.Manifest.Digest, Kind: im.Kind,
		Path: m.Path, Line: m.Line, State: overlay.Present,
		Redacted: m.Redacted, Fingerprint: m.Fingerprint, Entropy: m.Entropy, Encoding: m.Encoding,
		Confidence: m.Confidence, Validation: m.Validation, Context: m.Context,
	}
	if im.Platform != nil {
		f.Platform = im.Platform.String()
	}
	if a.opts.KeepSecrets {
		f.Secret = m.Secret
	}
	return f
}

// scanTexts scans texts with ScanText, or takes their matches from
// Options.Results (keyed by the texts' hash and the ruleset).
func (a *assembler) scanTexts(ctx context.Context, items []textItem) ([]secret.Match, error) {
	if len(items) == 0 {
		return nil, nil
	}
	hash := a.eng.RulesetHash()
	var key string
	if a.opts.Results != nil {
		key = textKey(items)
		if !a.opts.KeepSecrets {
			if ms, ok := a.storedTexts(ctx, key, hash); ok {
				return ms, nil
			}
		}
	}
	if err := a.eng.Compile(); err != nil {
		return nil, fmt.Errorf("compile the secret rules: %w", err)
	}
	var ms []secret.Match
	for _, it := range items {
		a.eng.ScanText(ctx, it.Loc, it.Text, func(m secret.Match) { ms = append(ms, m) })
	}
	if err := ctx.Err(); err != nil {
		return ms, err
	}
	if a.opts.Results != nil {
		blob, err := encodeTexts(ms)
		if err == nil {
			err = a.opts.Results.PutTextResult(ctx, key, hash, blob)
		}
		if err != nil {
			a.log.Warn("could not store text results", "err", err)
		}
	}
	return ms, nil
}

// storedTexts reads a text result from Options.Results; a store error or
// an undecodable entry is a miss.
func (a *assembler) storedTexts(ctx context.Context, key, hash string) ([]secret.Match, bool) {
	blob, ok, err := a.opts.Results.TextResult(ctx, key, hash)
	if err != nil {
		a.log.Warn("scan result store unusable, scanning without it", "err", err)
		return nil, false
	}
	if !ok {
		return nil, false
	}
	ms, err := decodeTexts(blob)
	if err != nil {
		a.log.Debug("stored text result unreadable, scanning again", "key", key, "err", err)
		return nil, false
	}
	return ms, true
}

// configFindings scans the config's Env, Labels, Cmd, Entrypoint and every
// history entry's created_by and comment.
func (a *assembler) configFindings(ctx context.Context, t *Target, im *image.Image, c *Coverage) ([]Finding, error) {
	cfg := im.Config
	if cfg == nil {
		return nil, nil
	}
	var items []textItem
	add := func(loc, text string) {
		if strings.TrimSpace(text) == "" {
			return
		}
		items = append(items, textItem{loc, text})
	}
	add("config:env", strings.Join(cfg.Config.Env, "\n"))
	if len(cfg.Config.Labels) > 0 {
		keys := make([]string, 0, len(cfg.Config.Labels))
		for k := range cfg.Config.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(k + "=" + cfg.Config.Labels[k] + "\n")
		}
		add("config:label", b.String())
	}
	add("config:cmd", strings.Join(cfg.Config.Cmd, " "))
	add("config:entrypoint", strings.Join(cfg.Config.Entrypoint, " "))
	for i, h := range cfg.History {
		text := h.CreatedBy
		if h.Comment != "" {
			text += "\n" + h.Comment
		}
		add(fmt.Sprintf("config:history[%d]", i), text)
	}
	c.ConfigTexts += len(items)
	ms, err := a.scanTexts(ctx, items)
	var out []Finding
	for _, m := range ms {
		f := a.finding(t, im, m)
		f.Remediation = remediation(im, &f)
		out = append(out, f)
	}
	return out, err
}

// maxAttestationBytes bounds one attestation blob read into memory.
const maxAttestationBytes = 64 << 20

// attestationFindings scans the in-toto statements of an attestation
// manifest (SLSA provenance can record build-arg values).
func (a *assembler) attestationFindings(ctx context.Context, t *Target, im *image.Image, c *Coverage) ([]Finding, error) {
	var out []Finding
	for _, l := range im.Layers {
		raw, err := content.ReadAll(ctx, t.Store, l.Descriptor, "attestation", maxAttestationBytes)
		if err != nil {
			if errors.Is(err, content.ErrNotFound) {
				c.NotScanned = append(c.NotScanned, Skip{Layer: l.Descriptor.Digest, Reason: "attestation blob missing from the source"})
				continue
			}
			return out, fmt.Errorf("attestation %s of %s: %w", l.Descriptor.Digest, im.AttestationFor, err)
		}
		c.Attestations++
		loc := "attestation:" + string(l.Descriptor.Digest)
		if pt := l.Descriptor.Annotations["in-toto.io/predicate-type"]; pt != "" {
			loc += " (" + pt + ")"
		}
		ms, err := a.scanTexts(ctx, []textItem{{loc, string(raw)}})
		for _, m := range ms {
			f := a.finding(t, im, m)
			f.Remediation = remediation(im, &f)
			out = append(out, f)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
