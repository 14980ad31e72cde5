package scrub

import (
	"fmt"
	"sort"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
)

// Reasons an entry is removed.
const (
	ReasonPath     = "path"     // a Selectors.Paths glob matched it or an ancestor
	ReasonFinding  = "finding"  // a file finding named it
	ReasonWhiteout = "whiteout" // a whiteout or opaque marker that hides nothing any more
)

// Removed is one tar entry a rewritten layer leaves out.
type Removed struct {
	Path   string     `json:"path"`
	Type   layer.Type `json:"type"`
	Reason string     `json:"reason"`
	// Match is the glob that matched (ReasonPath).
	Match string `json:"match,omitempty"`
	// Visible: the original's final filesystem showed this entry, so the
	// result's differs there; otherwise a later layer had already hidden it.
	Visible bool `json:"visible"`
}

// MemberRemoval is one archive member removed from a file of a layer.
type MemberRemoval struct {
	Archive string   `json:"archive"`
	Members []string `json:"members"`
}

// layerEdit is what to change in one layer blob, by entry ordinal.
type layerEdit struct {
	drop    map[int]Removed
	relink  map[int]int      // hard link -> ordinal of its removed target, whose content it takes
	repoint map[int]int      // hard link -> the link that took its removed target's content (its new target)
	members map[int][]string // archive file -> members to remove
}

func (e *layerEdit) empty() bool { return len(e.drop) == 0 && len(e.members) == 0 }

// key identifies the rewrite, so a blob edited the same way in several
// images is rewritten once.
func (e *layerEdit) key(d image.Digest) string {
	var b strings.Builder
	b.WriteString(string(d))
	ords := make([]int, 0, len(e.drop)+len(e.members))
	for o := range e.drop {
		ords = append(ords, o)
	}
	sort.Ints(ords)
	for _, o := range ords {
		fmt.Fprintf(&b, " d%d", o)
	}
	ords = ords[:0]
	for o := range e.members {
		ords = append(ords, o)
	}
	sort.Ints(ords)
	for _, o := range ords {
		fmt.Fprintf(&b, " m%d=%s", o, strings.Join(e.members[o], "\x00"))
	}
	return b.String()
}

// decider decides the edits of one image's layer stack.
type decider struct {
	im       *image.Image
	layers   [][]*layer.Entry
	globs    []glob
	findings *findingTargets
	matched  map[string]bool // finding file keys that matched (layer digest + path)
	edits    []*layerEdit
	listing  *overlay.Listing
}

func newDecider(im *image.Image, layers [][]*layer.Entry, globs []glob, ft *findingTargets, matched map[string]bool) *decider {
	d := &decider{im: im, layers: layers, globs: globs, findings: ft, matched: matched, edits: make([]*layerEdit, len(layers))}
	for i := range d.edits {
		d.edits[i] = &layerEdit{drop: map[int]Removed{}, relink: map[int]int{}, repoint: map[int]int{}, members: map[int][]string{}}
	}
	d.listing = overlay.NewListing(layers)
	return d
}

func (d *decider) run() error {
	d.selectEntries()
	d.dropDanglingMarkers()
	if err := d.fixHardlinks(); err != nil {
		return err
	}
	for li, ed := range d.edits {
		for ord, r := range ed.drop {
			r.Visible = d.listing.States[li][ord].State == overlay.Present && !d.layers[li][ord].IsWhiteout()
			ed.drop[ord] = r
		}
	}
	return nil
}

// selectEntries applies the path globs and file findings.
func (d *decider) selectEntries() {
	for li, es := range d.layers {
		l := d.im.Layers[li]
		files := mergeSets(d.findings.files[l.Descriptor.Digest], d.findings.files[l.DiffID])
		members := d.findings.members[l.Descriptor.Digest]
		if members == nil {
			members = d.findings.members[l.DiffID]
		}
		for ord, e := range es {
			if e.IsWhiteout() {
				continue
			}
			if g, ok := matchGlobs(d.globs, e.Path); ok {
				d.edits[li].drop[ord] = Removed{Path: "/" + e.Path, Type: e.Type, Reason: ReasonPath, Match: g}
				continue
			}
			if files[e.Path] {
				d.edits[li].drop[ord] = Removed{Path: "/" + e.Path, Type: e.Type, Reason: ReasonFinding}
				d.matched[string(l.Descriptor.Digest)+" "+e.Path] = true
				continue
			}
			if ms, ok := members[e.Path]; ok && e.Type == layer.TypeFile {
				d.edits[li].members[ord] = ms
				d.matched[string(l.Descriptor.Digest)+" "+e.Path] = true
			}
		}
	}
}

func mergeSets(a, b map[string]bool) map[string]bool {
	if len(b) == 0 {
		return a
	}
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// dropDanglingMarkers removes whiteouts and opaque markers that hid lower
// content in the original and hide nothing once the removals are made.
func (d *decider) dropDanglingMarkers() {
	sp := newStackPaths(d.layers)
	all := func(pathRef) bool { return true }
	kept := func(r pathRef) bool { _, gone := d.edits[r.layer].drop[r.ord]; return !gone }
	for li, es := range d.layers {
		for ord, e := range es {
			if !e.IsWhiteout() {
				continue
			}
			exact := e.Type == layer.TypeWhiteout
			if sp.lower(e.Path, exact, li, all) && !sp.lower(e.Path, exact, li, kept) {
				d.edits[li].drop[ord] = Removed{Path: "/" + e.Path, Type: e.Type, Reason: ReasonWhiteout}
			}
		}
	}
}

// fixHardlinks keeps surviving hard links whole: the first link to a
// removed target becomes a regular file with the target's content, later
// links point at it.
func (d *decider) fixHardlinks() error {
	for li, es := range d.layers {
		ed := d.edits[li]
		last := map[string]int{} // path -> ordinal of its latest entry so far
		heir := map[int]int{}    // removed target ordinal -> link that took its content
		for ord, e := range es {
			if e.Type == layer.TypeHardlink {
				if _, gone := ed.drop[ord]; !gone {
					if err := d.fixLink(li, ord, e, last, heir); err != nil {
						return err
					}
				}
			}
			if !e.IsWhiteout() {
				last[e.Path] = ord
			}
		}
	}
	return nil
}

func (d *decider) fixLink(li, ord int, e *layer.Entry, last map[string]int, heir map[int]int) error {
	ed := d.edits[li]
	t, ok := last[e.Linkname]
	if !ok {
		// The target is in a lower layer: refuse if every copy of it there
		// is removed.
		for lj := li - 1; lj >= 0; lj-- {
			for o, x := range d.layers[lj] {
				if x.Path == e.Linkname && !x.IsWhiteout() {
					if _, gone := d.edits[lj].drop[o]; !gone {
						return nil
					}
					return fmt.Errorf("%w: hard link /%s in layer %d points at /%s in layer %d, which is removed; remove the link too", ErrUnsupported, e.Path, li, e.Linkname, lj)
				}
			}
		}
		return nil
	}
	if _, gone := ed.drop[t]; !gone {
		return nil
	}
	if h, ok := heir[t]; ok {
		ed.repoint[ord] = h
		return nil
	}
	if d.layers[li][t].Type != layer.TypeFile {
		return fmt.Errorf("%w: hard link /%s in layer %d points at a removed %s", ErrUnsupported, e.Path, li, d.layers[li][t].Type)
	}
	heir[t] = ord
	ed.relink[ord] = t
	return nil
}
