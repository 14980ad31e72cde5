package scrub

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/source"
)

// Verification is what Verify checked, all from the staged bytes.
type Verification struct {
	// LayersReread: rewritten layers decompressed and walked again from
	// the staged blob's bytes as they were written (diff_id and sizes
	// checked) and compared entry by entry.
	LayersReread    int `json:"layersReread"`
	EntriesCompared int `json:"entriesCompared"`
	// FinalEntries: entries of the final filesystems compared.
	FinalEntries int `json:"finalEntries"`
	// Exposed are removed paths where a lower layer's version (one no
	// selector named) now shows in the final filesystem.
	Exposed []string `json:"exposed,omitempty"`
	// Rescanned: the result was scanned again; Fingerprints removed
	// fingerprints were looked for and none was found.
	Rescanned    bool `json:"rescanned"`
	Fingerprints int  `json:"fingerprints"`
}

type violations struct{ msgs []string }

func (v *violations) add(format string, args ...any) {
	if len(v.msgs) < 20 {
		v.msgs = append(v.msgs, fmt.Sprintf(format, args...))
	}
}

func (v *violations) err() error {
	if len(v.msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; nothing was written", ErrInvariant, strings.Join(v.msgs, "; "))
}

// verify checks the invariants of a plan (see the package doc).
func verify(ctx context.Context, p *Plan, opts Options) (*Verification, error) {
	vr := &Verification{}
	var v violations
	walked := map[image.Digest][]*layer.Entry{}
	for ii := range p.Images {
		ip := &p.Images[ii]
		for i, lp := range ip.Layers {
			if lp.Action != ActionRewritten {
				if lp.New.Digest != lp.Old.Digest {
					v.add("layer %d is reused but its digest changed", i)
				}
				continue
			}
			es, ok := walked[lp.New.Digest]
			if !ok {
				var err error
				if es, err = recheckLayer(lp, ip.rewritten[i], &v); err != nil {
					return nil, err
				}
				walked[lp.New.Digest] = es
				vr.LayersReread++
				vr.EntriesCompared += len(es)
			}
			ip.newEntries[i] = es
		}
		vr.FinalEntries += compareFinal(ip, &v)
		if err := checkConfig(ctx, p, ip, &v); err != nil {
			return nil, err
		}
	}
	if err := v.err(); err != nil {
		return vr, err
	}
	for _, ip := range p.Images {
		vr.Exposed = append(vr.Exposed, ip.exposed()...)
	}
	return vr, rescan(ctx, p, opts, vr)
}

// recheckLayer compares what the staged blob decoded to, as it was
// written (see readBack), with what the rewrite meant to write.
func recheckLayer(lp LayerPlan, rw *rewritten, v *violations) ([]*layer.Entry, error) {
	rb := rw.back
	if rb.err != nil {
		return nil, fmt.Errorf("%w: reading back the rewritten layer %d: %v", ErrInvariant, lp.Index, rb.err)
	}
	switch {
	case rb.compressed != lp.New.Size:
		v.add("layer %d: %d blob bytes read back, %d written", lp.Index, rb.compressed, lp.New.Size)
	case rb.diffID != lp.NewDiffID:
		v.add("layer %d: the blob decompresses to diff_id %s, %s was written", lp.Index, rb.diffID, lp.NewDiffID)
	case rb.size != rw.uncompressed:
		v.add("layer %d: the blob decompresses to %d bytes, %d were written", lp.Index, rb.size, rw.uncompressed)
	}
	for i, e := range rb.entries {
		if i >= len(rw.wants) {
			v.add("layer %d: unexpected entry /%s", lp.Index, e.Path)
			continue
		}
		w := rw.wants[i]
		if diff := entryDiff(w.entry, e); diff != "" {
			v.add("layer %d: /%s: %s", lp.Index, e.Path, diff)
		}
		if e.Type == layer.TypeFile && rb.sums[i] != w.sum {
			v.add("layer %d: /%s: content differs", lp.Index, e.Path)
		}
	}
	if len(rb.entries) != len(rw.wants) {
		v.add("layer %d: %d entries written, %d expected", lp.Index, len(rb.entries), len(rw.wants))
	}
	return rb.entries, nil
}

// entryDiff says how two entries differ in what a filesystem shows.
func entryDiff(a, b *layer.Entry) string {
	switch {
	case a.Path != b.Path:
		return fmt.Sprintf("path %q, want %q", b.Path, a.Path)
	case a.Type != b.Type:
		return fmt.Sprintf("type %s, want %s", b.Type, a.Type)
	case a.Mode != b.Mode:
		return fmt.Sprintf("mode %v, want %v", b.Mode, a.Mode)
	case a.UID != b.UID || a.GID != b.GID:
		return fmt.Sprintf("owner %d:%d, want %d:%d", b.UID, b.GID, a.UID, a.GID)
	case !a.ModTime.Equal(b.ModTime):
		return fmt.Sprintf("mtime %v, want %v", b.ModTime, a.ModTime)
	case a.Linkname != b.Linkname:
		return fmt.Sprintf("link target %q, want %q", b.Linkname, a.Linkname)
	case a.Size != b.Size:
		return fmt.Sprintf("size %d, want %d", b.Size, a.Size)
	}
	return ""
}

// edited lists the paths a plan is allowed to change in one image: removed
// entries, and files rewritten as archives or turned from hard links into
// regular files.
func (ip *ImagePlan) edited() (removed, changed map[string]bool) {
	removed, changed = map[string]bool{}, map[string]bool{}
	for _, lp := range ip.Layers {
		for _, r := range lp.Removed {
			if r.Reason != ReasonWhiteout {
				removed[r.Path[1:]] = true
			}
		}
	}
	for _, rw := range ip.rewritten {
		if rw != nil {
			for _, p := range rw.changed {
				changed[p] = true
			}
		}
	}
	return removed, changed
}

// compareFinal checks that the final filesystem changed only at removed
// paths and returns how many entries it compared.
func compareFinal(ip *ImagePlan, v *violations) int {
	removed, changed := ip.edited()
	oldF := finalMap(ip.oldEntries)
	newF := finalMap(ip.newEntries)
	for p, o := range oldF {
		n, ok := newF[p]
		switch {
		case removed[p]:
		case !ok:
			v.add("/%s (layer %d) is missing from the result", p, o.Layer)
		case n.Layer != o.Layer:
			v.add("/%s now comes from layer %d instead of %d", p, n.Layer, o.Layer)
		case changed[p]:
			if n.Entry.Mode.Perm() != o.Entry.Mode.Perm() || !n.Entry.ModTime.Equal(o.Entry.ModTime) {
				v.add("/%s: metadata changed beyond its content", p)
			}
		default:
			if d := entryDiff(o.Entry, n.Entry); d != "" {
				v.add("/%s: %s", p, d)
			}
		}
	}
	for p := range newF {
		if _, ok := oldF[p]; !ok {
			v.add("/%s shows in the result but not in the original (a deletion was undone)", p)
		}
	}
	for li, es := range ip.newEntries {
		for _, e := range es {
			if g, ok := matchGlobs(ip.removedGlobs, e.Path); ok && !e.IsWhiteout() {
				v.add("/%s is still in layer %d (matches %s)", e.Path, li, g)
			}
		}
	}
	return len(oldF)
}

func finalMap(layers [][]*layer.Entry) map[string]overlay.FinalEntry {
	m := map[string]overlay.FinalEntry{}
	for _, fe := range overlay.NewListing(layers).Final() {
		m[fe.Entry.Path] = fe
	}
	return m
}

// exposed lists removed paths the result still shows (from a lower layer
// no selector named).
func (ip *ImagePlan) exposed() []string {
	removed, _ := ip.edited()
	newF := finalMap(ip.newEntries)
	var out []string
	for p := range removed {
		if fe, ok := newF[p]; ok {
			out = append(out, fmt.Sprintf("/%s (layer %d)", p, fe.Layer))
		}
	}
	sort.Strings(out)
	return out
}

// checkConfig checks the new config's rootfs against the layers.
func checkConfig(ctx context.Context, p *Plan, ip *ImagePlan, v *violations) error {
	if ip.NewConfig == ip.OldConfig {
		return nil
	}
	raw, ok := p.stage.blobs[ip.NewConfig]
	if !ok {
		v.add("config %s was not staged", ip.NewConfig)
		return nil
	}
	cfg, err := image.ParseConfig(raw)
	if err != nil {
		return fmt.Errorf("%w: new config: %v", ErrInvariant, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(ip.Layers) {
		v.add("config lists %d diff_ids for %d layers", len(cfg.RootFS.DiffIDs), len(ip.Layers))
		return nil
	}
	for i, lp := range ip.Layers {
		if cfg.RootFS.DiffIDs[i] != lp.NewDiffID {
			v.add("config diff_id %d is %s, layer has %s", i, cfg.RootFS.DiffIDs[i], lp.NewDiffID)
		}
	}
	return nil
}

// rescan scans the result and fails if a removed fingerprint is found.
func rescan(ctx context.Context, p *Plan, opts Options, vr *Verification) error {
	fps := map[string]bool{}
	for _, f := range opts.Selectors.Findings {
		if f.Fingerprint != "" {
			fps[f.Fingerprint] = true
		}
	}
	for _, ip := range p.Images {
		for _, rw := range ip.rewritten {
			if rw != nil {
				for fp := range rw.fingerprints {
					fps[fp] = true
				}
			}
		}
	}
	if opts.Engine == nil || len(fps) == 0 {
		return nil
	}
	p.stage.root = p.NewRoot
	root, err := source.Load(ctx, p.stage, opts.Logger)
	if err != nil {
		return fmt.Errorf("%w: load the result for the rescan: %v", ErrInvariant, err)
	}
	ims, err := source.Select(root, nil, true)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvariant, err)
	}
	res, err := scan.Run(ctx, []scan.Target{{Ref: "scrubbed", Store: p.stage, Root: root, Images: ims}},
		scan.Options{Engine: opts.Engine, Results: opts.Cache.Results(), MaxLayerBytes: opts.MaxLayerBytes, Logger: opts.Logger})
	if err != nil {
		return fmt.Errorf("rescan the result: %w", err)
	}
	var v violations
	for _, f := range res.Findings {
		if fps[f.Fingerprint] {
			where := f.Path
			if f.Layer != nil {
				where = fmt.Sprintf("layer %d %s", *f.Layer, f.Path)
			}
			v.add("a removed secret (%s, %s) is still in %s: remove that too", f.Rule, f.Fingerprint, where)
		}
	}
	vr.Rescanned, vr.Fingerprints = true, len(fps)
	return v.err()
}
