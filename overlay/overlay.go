package overlay

import (
	"sort"
	"strings"
	"sync"

	"github.com/stratascan/strata/layer"
)

// State says whether a layer's entry is visible in the final filesystem.
type State string

// States.
const (
	Present     State = "present"
	Overwritten State = "overwritten"
	Deleted     State = "deleted"
)

type kind uint8

const (
	kDir kind = iota + 1
	kNonDir
	kWhiteout
	kOpaque
)

type event struct {
	layer int32
	kind  kind
}

// Tree indexes every path that any layer touches.
type Tree struct {
	mu    sync.Mutex
	paths map[string][]event
}

// New returns an empty tree.
func New() *Tree { return &Tree{paths: make(map[string][]event)} }

// Add records one entry of layer idx (the position in the stack, base = 0).
func (t *Tree) Add(idx int, e *layer.Entry) {
	k := kNonDir
	switch e.Type {
	case layer.TypeDir:
		k = kDir
	case layer.TypeWhiteout:
		k = kWhiteout
	case layer.TypeOpaque:
		k = kOpaque
	}
	t.mu.Lock()
	t.paths[e.Path] = append(t.paths[e.Path], event{layer: int32(idx), kind: k})
	t.mu.Unlock()
}

// Result is the state of one entry.
type Result struct {
	State State
	// HiddenBy is the layer that hid the entry, -1 when present.
	HiddenBy int
}

// State returns the state of entry e of layer idx: the lowest layer above
// idx that overwrites the path, whites it (or an ancestor) out, makes an
// ancestor opaque, or replaces an ancestor with a non-directory.
func (t *Tree) State(idx int, e *layer.Entry) Result {
	if e.IsWhiteout() {
		// Markers themselves are metadata; they are never "hidden".
		return Result{State: Present, HiddenBy: -1}
	}
	best, st := int32(-1), Present
	consider := func(l int32, s State) {
		if l > int32(idx) && (best < 0 || l < best) {
			best, st = l, s
		}
	}
	isDir := e.Type == layer.TypeDir
	for _, ev := range t.paths[e.Path] {
		switch ev.kind {
		case kWhiteout:
			consider(ev.layer, Deleted)
		case kNonDir:
			consider(ev.layer, Overwritten)
		case kDir:
			if !isDir {
				consider(ev.layer, Overwritten)
			}
		}
	}
	for p := e.Path; p != ""; {
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			p = p[:i]
		} else {
			p = "" // the root, where an opaque marker may sit
		}
		t.ancestor(p, consider)
	}
	return Result{State: st, HiddenBy: int(best)}
}

// ancestor considers what an upper layer did to a proper ancestor p: a
// whiteout, an opaque marker or a non-directory there hides everything below.
func (t *Tree) ancestor(p string, consider func(int32, State)) {
	for _, ev := range t.paths[p] {
		switch ev.kind {
		case kWhiteout, kOpaque, kNonDir:
			consider(ev.layer, Deleted)
		}
	}
}

// LayerStats summarises what one layer did.
type LayerStats struct {
	Added     int   `json:"added"`
	Modified  int   `json:"modified"`
	Deleted   int   `json:"deleted"`     // lower-layer entries this layer hid via whiteouts/opaque dirs
	Whiteouts int   `json:"whiteouts"`   // whiteout and opaque markers in this layer
	Wasted    int64 `json:"wastedBytes"` // bytes of this layer's files hidden by later layers
	Files     int   `json:"files"`
	Bytes     int64 `json:"bytes"` // bytes of regular files in this layer
}

// Listing is every entry of a stack of layers with its state; build it with
// NewListing once all layers have been read.
type Listing struct {
	Layers [][]*layer.Entry
	States [][]Result
	Stats  []LayerStats
}

// NewListing computes the state of every entry and per-layer statistics.
// layers[i] holds the entries of stack position i, in tar order.
func NewListing(layers [][]*layer.Entry) *Listing {
	t := New()
	for i, es := range layers {
		for _, e := range es {
			t.Add(i, e)
		}
	}
	return t.Listing(layers)
}

// Listing derives the listing from a tree that already holds layers.
func (t *Tree) Listing(layers [][]*layer.Entry) *Listing {
	l := &Listing{Layers: layers, States: make([][]Result, len(layers)), Stats: make([]LayerStats, len(layers))}
	type key struct {
		layer int
		path  string
	}
	modified := map[key]bool{}
	for i, es := range layers {
		l.States[i] = make([]Result, len(es))
		for j, e := range es {
			r := t.State(i, e)
			l.States[i][j] = r
			s := &l.Stats[i]
			switch {
			case e.IsWhiteout():
				s.Whiteouts++
				continue
			case e.Type == layer.TypeFile:
				s.Files++
				s.Bytes += e.Size
			}
			if r.State == Present {
				continue
			}
			if e.Type == layer.TypeFile {
				s.Wasted += e.Size
			}
			if r.State == Deleted {
				l.Stats[r.HiddenBy].Deleted++
			} else if e.Type != layer.TypeDir {
				modified[key{r.HiddenBy, e.Path}] = true
			}
		}
	}
	for i, es := range layers {
		for _, e := range es {
			if e.IsWhiteout() || e.Type == layer.TypeDir && t.hasLower(i, e.Path) {
				continue
			}
			if modified[key{i, e.Path}] {
				l.Stats[i].Modified++
			} else {
				l.Stats[i].Added++
			}
		}
	}
	return l
}

func (t *Tree) hasLower(idx int, p string) bool {
	for _, ev := range t.paths[p] {
		if int(ev.layer) < idx && ev.kind == kDir {
			return true
		}
	}
	return false
}

// FinalEntry is one entry of the final filesystem and the layer it comes from.
type FinalEntry struct {
	Layer int
	Entry *layer.Entry
}

// Final returns the final filesystem, sorted by path: for each path, the
// present entry of the highest layer. Whiteout markers are left out.
func (l *Listing) Final() []FinalEntry {
	top := map[string]FinalEntry{}
	for i, es := range l.Layers {
		for j, e := range es {
			if e.IsWhiteout() || e.Path == "" || l.States[i][j].State != Present {
				continue
			}
			top[e.Path] = FinalEntry{Layer: i, Entry: e}
		}
	}
	out := make([]FinalEntry, 0, len(top))
	for _, fe := range top {
		out = append(out, fe)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Entry.Path < out[b].Entry.Path })
	return out
}

// NewChainListing computes states for layers that form several stacks over
// shared lower layers, as a BuildKit cache does (each chain is one
// intermediate filesystem, base first, as layer indexes). An entry is
// present when some chain that holds its layer shows it; otherwise it takes
// the state (and hiding layer) from the first chain that holds its layer.
// Statistics come from that first chain. Layers in no chain are one-layer
// stacks of their own.
func NewChainListing(layers [][]*layer.Entry, chains [][]int) *Listing {
	out := &Listing{Layers: layers, States: make([][]Result, len(layers)), Stats: make([]LayerStats, len(layers))}
	inChain := make([]bool, len(layers))
	for _, ch := range chains {
		for _, li := range ch {
			inChain[li] = true
		}
	}
	for li, in := range inChain {
		if !in {
			chains = append(chains, []int{li})
		}
	}
	for _, ch := range chains {
		sub := make([][]*layer.Entry, len(ch))
		for k, li := range ch {
			sub[k] = layers[li]
		}
		l := NewListing(sub)
		for k, li := range ch {
			first := out.States[li] == nil
			if first {
				out.States[li] = make([]Result, len(layers[li]))
				out.Stats[li] = l.Stats[k]
			}
			for j, r := range l.States[k] {
				if r.HiddenBy >= 0 {
					r.HiddenBy = ch[r.HiddenBy]
				}
				if first || out.States[li][j].State != Present && r.State == Present {
					out.States[li][j] = r
				}
			}
		}
	}
	return out
}
