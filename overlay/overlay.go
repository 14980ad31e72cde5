package overlay

import (
	"math"
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

// layerSum is what one layer's entries at a path do, summed up so that a
// query costs one step per layer, however many duplicates a layer holds.
type layerSum struct {
	layer     int32
	last      int32 // position of the last directory or non-directory; -1: none
	maxNonDir int32 // position of the last non-directory; -1: none
	lastKind  kind  // kind of the layer's last entry here
	kinds     uint8 // bit 1<<kind for every kind seen
}

func (ls *layerSum) has(k kind) bool { return ls.kinds&(1<<k) != 0 }

// lastOrd stands for "after every entry of the layer".
const lastOrd = math.MaxInt32

// hide is what the entries of one layer at the proper ancestors of a path
// do to it. Any hide hides the entries of lower layers. For entries of the
// same layer (a layer with duplicate paths), only non-directories count:
// same is the largest position of a non-directory at an ancestor, lastOrd
// when the last same-layer entry at an ancestor is a non-directory (nothing
// of that layer can then sit below it), -1 when that layer only has
// whiteout or opaque markers there (they never apply to their own layer).
type hide struct {
	layer int32
	same  int32
}

// node is one path of the tree. Nodes are reached by their full path
// (Tree.paths, for paths given to Add) or through their parent's children.
type node struct {
	parent   *node
	children map[string]*node
	layers   []layerSum // one per layer with an entry here, in the order first seen
	anc      []hide     // memo of what ancestors do to this path, valid when
	ancGen   uint64     // equals Tree.gen (Add invalidates every memo)
}

// Tree indexes every path that any layer touches.
//
// The rules, per OCI image-spec layer.md and tar extraction: an entry is
// hidden by a later layer's entry at its path (a directory over a directory
// merges), by a later layer's whiteout there, and by a later layer's
// whiteout, opaque marker or non-directory at an ancestor. Within one layer
// the last entry for a path wins, as tar extraction does: an earlier
// duplicate is overwritten by that layer itself, and a non-directory that a
// layer puts at a path hides what the same layer put below it (before it,
// or anywhere when it is the layer's last entry there). Whiteouts never
// apply to their own layer. Entries flagged unsafe (a name or link target
// that climbs out of the root) are not applied: they hide nothing.
//
// Work is linear in the entries and the length of their names: a path is
// found by one map lookup of its full name (or, for a path no entry named,
// one lookup per component), never by looking up each of its prefixes.
type Tree struct {
	mu    sync.Mutex
	root  *node
	paths map[string]*node
	next  map[int]int32 // the next position per layer
	gen   uint64        // bumped by Add; memos of other generations are stale
	steps int           // nodes visited, for tests of linearity
}

// New returns an empty tree.
func New() *Tree {
	return &Tree{root: &node{}, paths: make(map[string]*node), next: make(map[int]int32), gen: 1}
}

func kindOf(e *layer.Entry) kind {
	switch e.Type {
	case layer.TypeDir:
		return kDir
	case layer.TypeWhiteout:
		return kWhiteout
	case layer.TypeOpaque:
		return kOpaque
	}
	return kNonDir
}

// Add records the next entry of layer idx (the position in the stack, base
// = 0). Entries of one layer must be added in tar order; layers may be
// added in any order and concurrently.
func (t *Tree) Add(idx int, e *layer.Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ord := t.next[idx]
	t.next[idx] = ord + 1
	t.gen++
	if e.Unsafe != "" {
		return
	}
	n := t.lookup(e.Path, true)
	n.sum(int32(idx)).add(ord, kindOf(e))
}

// sum returns the summary of layer l at n, adding it when missing.
func (n *node) sum(l int32) *layerSum {
	for i := range n.layers {
		if n.layers[i].layer == l {
			return &n.layers[i]
		}
	}
	n.layers = append(n.layers, layerSum{layer: l, last: -1, maxNonDir: -1})
	return &n.layers[len(n.layers)-1]
}

func (ls *layerSum) add(ord int32, k kind) {
	ls.kinds |= 1 << k
	ls.lastKind = k
	switch k {
	case kNonDir:
		ls.maxNonDir = ord
		ls.last = ord
	case kDir:
		ls.last = ord
	}
}

// lookup returns the node of path p ("" is the root). With create it makes
// the node (and any missing ancestor) and registers p for direct lookup;
// without, it returns nil when no entry touched p or a path below it.
func (t *Tree) lookup(p string, create bool) *node {
	t.steps++
	if p == "" {
		return t.root
	}
	if n := t.paths[p]; n != nil {
		return n
	}
	parent, base := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		parent, base = p[:i], p[i+1:]
	}
	pn := t.root
	if parent != "" {
		if pn = t.paths[parent]; pn == nil {
			if pn = t.walk(parent, create); pn == nil {
				return nil
			}
		}
	}
	n := pn.children[base]
	if n == nil {
		if !create {
			return nil
		}
		n = &node{parent: pn}
		if pn.children == nil {
			pn.children = make(map[string]*node)
		}
		pn.children[base] = n
	}
	if create {
		t.paths[p] = n
	}
	return n
}

// walk finds (or makes) the node of p component by component from the root:
// for directories no entry named, whose nodes are not in t.paths.
func (t *Tree) walk(p string, create bool) *node {
	n := t.root
	for p != "" {
		t.steps++
		c, rest, _ := strings.Cut(p, "/")
		next := n.children[c]
		if next == nil {
			if !create {
				return nil
			}
			next = &node{parent: n}
			if n.children == nil {
				n.children = make(map[string]*node)
			}
			n.children[c] = next
		}
		n, p = next, rest
	}
	return n
}

// deepest returns the node of p, or when p has none, a node for it made
// from its deepest existing ancestor without changing the tree.
func (t *Tree) deepest(p string) *node {
	if n := t.lookup(p, false); n != nil {
		return n
	}
	n := t.root
	for p != "" {
		t.steps++
		c, rest, _ := strings.Cut(p, "/")
		next := n.children[c]
		if next == nil {
			// A path below n that no entry touched: only n and its
			// ancestors can hide it.
			return &node{parent: n}
		}
		n, p = next, rest
	}
	return n
}

// ancestors returns what the entries at n's proper ancestors do to n,
// computing and remembering it for every ancestor on the way (iteratively:
// a chain of thousands of nested directories costs no deep recursion).
func (t *Tree) ancestors(n *node) []hide {
	if n.parent == nil || n.ancGen == t.gen {
		return n.anc
	}
	var chain []*node
	for m := n; m.parent != nil && m.ancGen != t.gen; m = m.parent {
		chain = append(chain, m)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		m := chain[i]
		t.steps++
		m.anc = below(m.parent.anc, m.parent.layers)
		m.ancGen = t.gen
	}
	return n.anc
}

// below merges what a node's own entries do to the paths under it into what
// its ancestors do (anc). It shares anc when the node only holds
// directories, so a deep chain of plain directories allocates nothing.
func below(anc []hide, layers []layerSum) []hide {
	relevant := false
	for i := range layers {
		if layers[i].kinds&^(1<<kDir) != 0 {
			relevant = true
			break
		}
	}
	if !relevant {
		return anc
	}
	out := append([]hide(nil), anc...)
	for i := range layers {
		ls := &layers[i]
		if ls.kinds&^(1<<kDir) == 0 {
			continue
		}
		j := -1
		for k := range out {
			if out[k].layer == ls.layer {
				j = k
				break
			}
		}
		if j < 0 {
			out = append(out, hide{layer: ls.layer, same: -1})
			j = len(out) - 1
		}
		same := ls.maxNonDir
		if ls.lastKind == kNonDir {
			same = lastOrd
		}
		out[j].same = max(out[j].same, same)
	}
	return out
}

// Result is the state of one entry.
type Result struct {
	State State
	// HiddenBy is the layer that hid the entry, -1 when present. It is the
	// entry's own layer when a later entry of that layer replaced it.
	HiddenBy int
}

// State returns the state of the entry of layer idx at e.Path that layer
// idx leaves in place (its last entry there): the lowest layer above idx
// that overwrites the path, whites it (or an ancestor) out, makes an
// ancestor opaque, or replaces an ancestor with a non-directory; or layer
// idx itself when a non-directory of its own replaces an ancestor.
func (t *Tree) State(idx int, e *layer.Entry) Result {
	if e.IsWhiteout() {
		// Markers themselves are metadata; they are never "hidden".
		return Result{State: Present, HiddenBy: -1}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.deepest(e.Path)
	ord := int32(lastOrd)
	for i := range n.layers {
		if n.layers[i].layer == int32(idx) && n.layers[i].last >= 0 {
			ord = n.layers[i].last
		}
	}
	return t.stateAt(int32(idx), ord, e.Type == layer.TypeDir, n)
}

// stateAt is the state of the entry at position ord of layer idx at node n.
func (t *Tree) stateAt(idx, ord int32, isDir bool, n *node) Result {
	best, st := int32(-1), Present
	consider := func(l int32, s State) {
		if best < 0 || l < best {
			best, st = l, s
		}
	}
	for i := range n.layers {
		ls := &n.layers[i]
		switch {
		case ls.layer == idx:
			// The last entry for a path wins within a layer; markers never
			// apply to their own layer.
			if ls.last > ord {
				consider(idx, Overwritten)
			}
		case ls.layer > idx:
			switch {
			case ls.has(kNonDir), ls.has(kDir) && !isDir:
				consider(ls.layer, Overwritten)
			case ls.has(kWhiteout):
				consider(ls.layer, Deleted)
			}
		}
	}
	for _, h := range t.ancestors(n) {
		if h.layer > idx || h.layer == idx && h.same > ord {
			consider(h.layer, Deleted)
		}
	}
	return Result{State: st, HiddenBy: int(best)}
}

// entryState is the state of entry ord of layer idx (every entry of that
// layer having been added in order).
func (t *Tree) entryState(idx, ord int, e *layer.Entry) Result {
	if e.IsWhiteout() {
		return Result{State: Present, HiddenBy: -1}
	}
	return t.stateAt(int32(idx), int32(ord), e.Type == layer.TypeDir, t.deepest(e.Path))
}

// LayerStats summarises what one layer did.
type LayerStats struct {
	Added     int   `json:"added"`
	Modified  int   `json:"modified"`
	Deleted   int   `json:"deleted"`     // lower-layer entries this layer hid via whiteouts/opaque dirs
	Whiteouts int   `json:"whiteouts"`   // whiteout and opaque markers in this layer
	Wasted    int64 `json:"wastedBytes"` // bytes of this layer's files hidden by later layers (or later duplicates)
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

// Listing derives the listing from a tree that holds exactly these layers,
// each added in order.
func (t *Tree) Listing(layers [][]*layer.Entry) *Listing {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := &Listing{Layers: layers, States: make([][]Result, len(layers)), Stats: make([]LayerStats, len(layers))}
	type key struct {
		layer int
		path  string
	}
	modified := map[key]bool{}
	for i, es := range layers {
		l.States[i] = make([]Result, len(es))
		for j, e := range es {
			r := t.entryState(i, j, e)
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
			switch {
			case r.HiddenBy == i:
				// A duplicate its own layer replaced: not a change to the stack.
			case r.State == Deleted:
				l.Stats[r.HiddenBy].Deleted++
			case e.Type != layer.TypeDir:
				modified[key{r.HiddenBy, e.Path}] = true
			}
		}
	}
	for i, es := range layers {
		for j, e := range es {
			if e.IsWhiteout() || l.States[i][j].HiddenBy == i || e.Type == layer.TypeDir && t.hasLower(i, e.Path) {
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
	n := t.lookup(p, false)
	if n == nil {
		return false
	}
	for i := range n.layers {
		if int(n.layers[i].layer) < idx && n.layers[i].has(kDir) {
			return true
		}
	}
	return false
}

// FinalEntry is one entry of the final filesystem and the layer it comes from.
type FinalEntry struct {
	Layer int
	Entry *layer.Entry
	// Index is the entry's position in its layer (Listing.Layers[Layer]).
	Index int
}

// Final returns the final filesystem, sorted by path: for each path, the
// present entry of the highest layer. Whiteout markers and unsafe entries
// (never applied) are left out.
func (l *Listing) Final() []FinalEntry {
	top := map[string]FinalEntry{}
	for i, es := range l.Layers {
		for j, e := range es {
			if e.IsWhiteout() || e.Path == "" || e.Unsafe != "" || l.States[i][j].State != Present {
				continue
			}
			top[e.Path] = FinalEntry{Layer: i, Entry: e, Index: j}
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
