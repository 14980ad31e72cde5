package browse

import (
	"path"
	"sort"
	"strings"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
)

// item is one entry of a layer with its state in the final image.
type item struct {
	layer int
	e     *layer.Entry
	st    overlay.Result
}

// recoverable reports whether the item is a regular file a later layer
// deleted: its bytes are still in layer it.layer.
func (it *item) recoverable() bool {
	return it.e.Type == layer.TypeFile && it.st.State == overlay.Deleted
}

// node is one path of the filesystem pane's tree.
type node struct {
	name, path string
	it         *item // nil for a directory no entry of the view names
	kids       []*node
	size       int64
	depth      int
}

func (n *node) isDir() bool {
	return n.it == nil || n.it.e.Type == layer.TypeDir || len(n.kids) > 0
}

// layerItems makes the items of every layer once, so switching layers
// allocates no item.
func layerItems(a *inspect.Analysis) [][]item {
	ls := a.Listing
	out := make([][]item, len(ls.Layers))
	for i, es := range ls.Layers {
		out[i] = make([]item, len(es))
		for j, e := range es {
			out[i][j] = item{layer: i, e: e, st: ls.States[i][j]}
		}
	}
	return out
}

// viewItems returns the entries the filesystem pane shows for layer l:
// with own, that layer's entries (whiteouts included); otherwise the tree
// as of l: every entry of layers 0..l still visible at l (an entry hidden
// by layer h is visible below h, hiding being monotone), plus the regular
// files a layer up to l deleted, which are recoverable from their layer.
func viewItems(all [][]item, l int, own bool) []*item {
	if own {
		out := make([]*item, 0, len(all[l]))
		for j := range all[l] {
			if it := &all[l][j]; it.e.Path != "" && it.e.Unsafe == "" {
				out = append(out, it)
			}
		}
		return out
	}
	visible := map[string]*item{}
	deleted := map[string]*item{}
	for i := 0; i <= l; i++ {
		for j := range all[i] {
			it := &all[i][j]
			if it.e.IsWhiteout() || it.e.Path == "" || it.e.Unsafe != "" {
				continue
			}
			switch {
			case it.st.State == overlay.Present || it.st.HiddenBy > l:
				visible[it.e.Path] = it
			case it.recoverable():
				deleted[it.e.Path] = it
			}
		}
	}
	out := make([]*item, 0, len(visible)+len(deleted))
	for _, it := range visible {
		out = append(out, it)
	}
	for p, it := range deleted {
		if visible[p] == nil {
			out = append(out, it)
		}
	}
	return out
}

// matches reports whether p (root-relative) matches the glob pattern, as
// an absolute path or by its base name.
func matches(pattern, p string) bool {
	if pattern == "" {
		return true
	}
	if ok, _ := path.Match(pattern, "/"+p); ok {
		return true
	}
	ok, _ := path.Match(pattern, path.Base(p))
	return ok
}

// buildTree makes the tree of items that match filter; directories get
// the sum of the file sizes below them.
func buildTree(items []*item, filter string, bySize bool) *node {
	root := &node{depth: -1}
	dirs := map[string]*node{"": root}
	var dir func(p string) *node
	dir = func(p string) *node {
		if n := dirs[p]; n != nil {
			return n
		}
		parent := dir(parentOf(p))
		n := &node{name: path.Base(p), path: p, depth: parent.depth + 1}
		parent.kids = append(parent.kids, n)
		dirs[p] = n
		return n
	}
	for _, it := range items {
		if !matches(filter, it.e.Path) {
			continue
		}
		if it.e.Type == layer.TypeDir {
			dir(it.e.Path).it = it
			continue
		}
		parent := dir(parentOf(it.e.Path))
		parent.kids = append(parent.kids, &node{name: path.Base(it.e.Path), path: it.e.Path, it: it, depth: parent.depth + 1, size: fileSize(it)})
	}
	finish(root, bySize)
	return root
}

func fileSize(it *item) int64 {
	if it.e.Type == layer.TypeFile {
		return it.e.Size
	}
	return 0
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// finish sums directory sizes and sorts children: by name, or by size
// (largest first) when bySize.
func finish(n *node, bySize bool) int64 {
	if len(n.kids) == 0 {
		return n.size
	}
	var sum int64
	for _, k := range n.kids {
		sum += finish(k, bySize)
	}
	n.size = sum
	sort.Slice(n.kids, func(a, b int) bool {
		ka, kb := n.kids[a], n.kids[b]
		if bySize && ka.size != kb.size {
			return ka.size > kb.size
		}
		if ka.name != kb.name {
			return ka.name < kb.name
		}
		return ka.it != nil && kb.it != nil && ka.it.e.IsWhiteout() && !kb.it.e.IsWhiteout()
	})
	return sum
}

// flatten lists the rows the pane shows: every node below root in order,
// the children of collapsed directories left out.
func flatten(root *node, collapsed map[string]bool) []*node {
	var out []*node
	var walk func(n *node)
	walk = func(n *node) {
		for _, k := range n.kids {
			out = append(out, k)
			if len(k.kids) > 0 && !collapsed[k.path] {
				walk(k)
			}
		}
	}
	walk(root)
	return out
}
