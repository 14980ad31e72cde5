package image

import (
	"encoding/json"
	"fmt"
)

// CacheConfig is a BuildKit registry cache config
// (application/vnd.buildkit.cacheconfig.v0; FIELD-NOTES 2.3).
type CacheConfig struct {
	Layers  []CacheLayer  `json:"layers"`
	Records []CacheRecord `json:"records"`
}

// CacheLayer is one cache layer. Parent indexes Layers; -1 means none. The
// field is omitempty in BuildKit, so an absent parent decodes as 0.
type CacheLayer struct {
	Blob        Digest           `json:"blob"`
	Parent      int              `json:"parent"`
	Annotations *CacheAnnotation `json:"annotations,omitempty"`
}

// CacheAnnotation carries a cache layer's media type and diff_id.
type CacheAnnotation struct {
	MediaType string `json:"mediaType,omitempty"`
	DiffID    Digest `json:"diffID,omitempty"`
	Size      int64  `json:"size,omitempty"`
	CreatedAt string `json:"createdAt,omitempty"`
}

// CacheRecord is one cache key with the layers it produced.
type CacheRecord struct {
	Digest  string `json:"digest"`
	Results []struct {
		LayerIndex int `json:"layer"`
	} `json:"layers,omitempty"`
	Chains []struct {
		Layers []int `json:"layers"`
	} `json:"chains,omitempty"`
}

// ParseCacheConfig parses and validates a cache config: every parent and
// result index must be in range and parent chains must not loop.
func ParseCacheConfig(raw []byte) (*CacheConfig, error) {
	var c CacheConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: buildkit cache config: %v", ErrMalformed, err)
	}
	n := len(c.Layers)
	for i, l := range c.Layers {
		if _, err := ParseDigest(string(l.Blob)); err != nil {
			return nil, fmt.Errorf("%w: cache layer %d: %v", ErrMalformed, i, err)
		}
		if l.Parent < -1 || l.Parent >= n {
			return nil, fmt.Errorf("%w: cache layer %d: parent %d out of range [-1,%d)", ErrMalformed, i, l.Parent, n)
		}
	}
	for ri, r := range c.Records {
		for _, res := range r.Results {
			if res.LayerIndex < 0 || res.LayerIndex >= n {
				return nil, fmt.Errorf("%w: cache record %d: layer %d out of range", ErrMalformed, ri, res.LayerIndex)
			}
		}
		for _, ch := range r.Chains {
			for _, li := range ch.Layers {
				if li < 0 || li >= n {
					return nil, fmt.Errorf("%w: cache record %d chain: layer %d out of range", ErrMalformed, ri, li)
				}
			}
		}
	}
	for i := range c.Layers {
		if _, err := c.Chain(i); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// Chain returns the layer indexes from the base to layer i, following parent
// links. A layer that is its own ancestor is an error.
func (c *CacheConfig) Chain(i int) ([]int, error) {
	var rev []int
	for j, steps := i, 0; j != -1; j, steps = c.Layers[j].Parent, steps+1 {
		if steps > len(c.Layers) {
			return nil, fmt.Errorf("%w: cache layer %d: parent chain loops", ErrMalformed, i)
		}
		rev = append(rev, j)
		if c.Layers[j].Parent == j {
			return nil, fmt.Errorf("%w: cache layer %d is its own parent", ErrMalformed, j)
		}
	}
	for l, r := 0, len(rev)-1; l < r; l, r = l+1, r-1 {
		rev[l], rev[r] = rev[r], rev[l]
	}
	return rev, nil
}

// Leaves returns the indexes of layers no other layer names as parent: each
// is the top of one intermediate filesystem the cache can rebuild.
func (c *CacheConfig) Leaves() []int {
	isParent := make([]bool, len(c.Layers))
	for _, l := range c.Layers {
		if l.Parent >= 0 {
			isParent[l.Parent] = true
		}
	}
	var out []int
	for i, p := range isParent {
		if !p {
			out = append(out, i)
		}
	}
	return out
}
