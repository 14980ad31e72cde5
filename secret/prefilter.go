package secret

import "sort"

// prefilter is a case-insensitive (ASCII) Aho-Corasick automaton compiled to a
// dense DFA over byte classes. States are renumbered so that every state with
// output sorts after every state without, which makes the hot loop a single
// table load and one comparison per byte.
type prefilter struct {
	class    [256]uint8 // byte -> class (ASCII letters folded)
	nclass   int
	delta    []uint32 // premultiplied: next = delta[state + class]
	outFrom  uint32   // states >= outFrom (premultiplied) have output
	outStart []int32  // per state index: range into outList
	outList  []int32  // keyword ids
	kwLen    []int    // per keyword id: length
	maxLen   int
}

// hit is one keyword occurrence: the keyword id and the offset of its first byte.
type hit struct {
	kw  int32
	pos int
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

func newPrefilter(keywords []string) *prefilter {
	p := &prefilter{}
	// byte classes: every distinct (folded) byte used by a keyword gets its own class.
	var used [256]bool
	for _, k := range keywords {
		for i := 0; i < len(k); i++ {
			used[lowerASCII(k[i])] = true
		}
	}
	n := 1
	for b := 0; b < 256; b++ {
		if used[b] {
			p.class[b] = uint8(n)
			n++
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		p.class[b] = p.class[b+('a'-'A')]
	}
	p.nclass = n
	// trie
	type node struct {
		next  map[uint8]int
		fail  int
		out   []int32
		depth int
	}
	nodes := []node{{next: map[uint8]int{}}}
	p.kwLen = make([]int, len(keywords))
	for id, k := range keywords {
		p.kwLen[id] = len(k)
		if len(k) > p.maxLen {
			p.maxLen = len(k)
		}
		s := 0
		for i := 0; i < len(k); i++ {
			c := p.class[lowerASCII(k[i])]
			nx, ok := nodes[s].next[c]
			if !ok {
				nodes = append(nodes, node{next: map[uint8]int{}, depth: i + 1})
				nx = len(nodes) - 1
				nodes[s].next[c] = nx
			}
			s = nx
		}
		if len(k) > 0 {
			nodes[s].out = append(nodes[s].out, int32(id))
		}
	}
	// BFS for fail links and full transitions
	ns := len(nodes)
	trans := make([]int, ns*n)
	queue := []int{}
	for c := 0; c < n; c++ {
		if nx, ok := nodes[0].next[uint8(c)]; ok && c != 0 {
			trans[c] = nx
			nodes[nx].fail = 0
			queue = append(queue, nx)
		} else {
			trans[c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for c := 0; c < n; c++ {
			if nx, ok := nodes[s].next[uint8(c)]; ok && c != 0 {
				trans[s*n+c] = nx
				nodes[nx].fail = trans[f*n+c]
				queue = append(queue, nx)
			} else {
				trans[s*n+c] = trans[f*n+c]
			}
		}
	}
	// renumber: states without output first (root stays 0)
	order := make([]int, ns)
	for i := range order {
		order[i] = i
	}
	// without output first (the hot loop's single comparison), then by
	// depth, so that the shallow states text mostly visits share cache lines
	sort.SliceStable(order, func(a, b int) bool {
		oa, ob := len(nodes[order[a]].out) > 0, len(nodes[order[b]].out) > 0
		if oa != ob {
			return !oa
		}
		return nodes[order[a]].depth < nodes[order[b]].depth
	})
	newID := make([]int, ns)
	for ni, old := range order {
		newID[old] = ni
	}
	firstOut := ns
	for ni, old := range order {
		if len(nodes[old].out) > 0 {
			firstOut = ni
			break
		}
	}
	p.delta = make([]uint32, ns*n)
	p.outStart = make([]int32, ns+1)
	for ni, old := range order {
		for c := 0; c < n; c++ {
			p.delta[ni*n+c] = uint32(newID[trans[old*n+c]] * n)
		}
		p.outStart[ni] = int32(len(p.outList))
		p.outList = append(p.outList, nodes[old].out...)
	}
	p.outStart[ns] = int32(len(p.outList))
	p.outFrom = uint32(firstOut * n)
	return p
}

// scan runs the automaton over buf[from:to] starting in state st, appends
// the hits (keyword start offsets relative to buf, possibly < from when a
// keyword began before from) in order of their end, and returns the final
// state. (Two interleaved streams were tried to hide the table-load latency:
// no gain on the 2-core target.)
func (p *prefilter) scan(buf []byte, from, to int, st uint32, hits []hit) (uint32, []hit) {
	return p.scan1(buf, from, to, st, hits)
}

func (p *prefilter) scan1(buf []byte, from, to int, st uint32, hits []hit) (uint32, []hit) {
	delta := p.delta
	class := &p.class
	outFrom := p.outFrom
	b := buf[from:to]
	for i, c := range b {
		st = delta[st+uint32(class[c])]
		if st >= outFrom {
			si := st / uint32(p.nclass)
			for _, kw := range p.outList[p.outStart[si]:p.outStart[si+1]] {
				hits = append(hits, hit{kw: kw, pos: from + i + 1 - p.kwLen[kw]})
			}
		}
	}
	return st, hits
}
