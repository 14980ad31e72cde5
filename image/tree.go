package image

// Node is one object in a manifest tree: an index, a manifest, or a blob
// that an index lists directly (BuildKit index-form caches do that).
type Node struct {
	Descriptor Descriptor `json:"descriptor"`
	Kind       Kind       `json:"kind,omitempty"`
	// Parsed is nil for blobs.
	Parsed   *Parsed `json:"-"`
	Raw      []byte  `json:"-"`
	Children []*Node `json:"children,omitempty"`
	// Image is set for image, schema 1, cache, attestation and artifact manifests.
	Image *Image `json:"-"`
	// Warning notes something odd about this node that did not stop the walk.
	Warning string `json:"warning,omitempty"`
	// Repeat marks a manifest listed again: its children and image are on
	// the node of its first occurrence, so a graph that lists one digest
	// many times costs one node per listing, not one subtree.
	Repeat bool `json:"repeat,omitempty"`
	// Skipped marks an index entry not fetched because the platform
	// selection does not need it.
	Skipped bool `json:"skipped,omitempty"`
}

// Walk calls fn for n and every node below it, depth first.
func (n *Node) Walk(fn func(*Node)) {
	fn(n)
	for _, c := range n.Children {
		c.Walk(fn)
	}
}

// Images returns every image-like manifest in the tree, in tree order.
func (n *Node) Images() []*Image {
	var out []*Image
	n.Walk(func(x *Node) {
		if x.Image != nil {
			out = append(out, x.Image)
		}
	})
	return out
}

// Image is one image manifest resolved with its config and layers. Cache
// images list every cache layer; Chains says which stack on which.
type Image struct {
	Manifest  Descriptor   `json:"manifest"`
	Kind      Kind         `json:"kind"`
	Platform  *Platform    `json:"platform,omitempty"`
	ConfigRef Descriptor   `json:"config"`
	ConfigRaw []byte       `json:"-"`
	Config    *Config      `json:"-"`
	Cache     *CacheConfig `json:"-"`
	Layers    []Layer      `json:"layers"`
	// AttestationFor is the manifest digest an attestation describes.
	AttestationFor Digest `json:"attestationFor,omitempty"`
	// Subject is the manifest's OCI subject, if any.
	Subject *Descriptor `json:"subject,omitempty"`
}

// Layer is one layer of an image, with the build step that made it.
type Layer struct {
	Index      int        `json:"index"`
	Descriptor Descriptor `json:"descriptor"`
	// DiffID is the uncompressed digest the config claims; empty when
	// unknown (schema 1, caches without annotations).
	DiffID Digest `json:"diffID,omitempty"`
	// History is the step that made the layer, nil when history is absent.
	History *History `json:"history,omitempty"`
	// HistoryIndex is History's index in the config history, or -1.
	HistoryIndex int `json:"historyIndex"`
}

// Chains lists the layer stacks this image describes, base first: a plain
// image has one (every layer); a cache image has one per leaf of its parent
// graph, each an intermediate filesystem.
func (im *Image) Chains() [][]int {
	if im.Cache == nil {
		all := make([]int, len(im.Layers))
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	byBlob := map[Digest]int{}
	for i, l := range im.Layers {
		byBlob[l.Descriptor.Digest] = i
	}
	var out [][]int
	for _, leaf := range im.Cache.Leaves() {
		chain, err := im.Cache.Chain(leaf)
		if err != nil {
			continue
		}
		var ls []int
		for _, ci := range chain {
			if li, ok := byBlob[im.Cache.Layers[ci].Blob]; ok {
				ls = append(ls, li)
			}
		}
		out = append(out, ls)
	}
	return out
}

// DiffIDs returns the layers' diff_ids in order ("" where unknown).
func (im *Image) DiffIDs() []Digest {
	out := make([]Digest, len(im.Layers))
	for i, l := range im.Layers {
		out[i] = l.DiffID
	}
	return out
}
