package provenance

import (
	"github.com/stratascan/strata/image"
)

// Index finds approved bases by ChainID. Build it once with [NewIndex] and
// share it between goroutines: it is read-only after construction.
type Index struct {
	byChain map[image.Digest][]*Base
	byName  map[string][]*Base
	n       int
}

// NewIndex indexes bases by their top ChainID. Invalid records are skipped
// (validate them when they enter the store).
func NewIndex(bases []Base) *Index {
	ix := &Index{byChain: map[image.Digest][]*Base{}, byName: map[string][]*Base{}}
	for i := range bases {
		b := &bases[i]
		top := b.TopChainID()
		if top == "" {
			continue
		}
		ix.byChain[top] = append(ix.byChain[top], b)
		ix.byName[b.Name] = append(ix.byName[b.Name], b)
		ix.n++
	}
	return ix
}

// Len is the number of indexed bases.
func (ix *Index) Len() int { return ix.n }

// BaseRef names a matched base in a result.
type BaseRef struct {
	Name      string       `json:"name"`
	Reference string       `json:"reference"`
	Digest    image.Digest `json:"digest"`
	Platform  string       `json:"platform,omitempty"`
}

func refOf(b *Base) *BaseRef {
	return &BaseRef{Name: b.Name, Reference: b.Reference, Digest: b.Digest, Platform: b.Platform}
}

// Match is the outcome of matching one layer chain.
type Match struct {
	// Base is the longest approved base the chain starts with; nil when
	// there is none.
	Base *BaseRef `json:"base,omitempty"`
	// BaseLayers is the number of layers that come from Base; AppLayers the
	// number the application added on top.
	BaseLayers int `json:"baseLayers"`
	AppLayers  int `json:"appLayers"`
	// Stale is set when a newer approved image of the same name (and a
	// compatible platform) exists; Newest names it.
	Stale  bool     `json:"stale"`
	Newest *BaseRef `json:"newest,omitempty"`
}

// Match finds the longest approved base whose ChainID equals the ChainID of
// a prefix of diffIDs, among bases whose platform is compatible with
// platform ("" matches any). It computes the prefix ChainIDs once and does
// one map lookup per layer, longest prefix first.
func (ix *Index) Match(diffIDs []image.Digest, platform string) Match {
	return ix.MatchChain(image.ChainIDs(diffIDs), platform)
}

// MatchChain is [Index.Match] for precomputed prefix ChainIDs.
func (ix *Index) MatchChain(chain []image.Digest, platform string) Match {
	n := len(chain)
	m := Match{AppLayers: n}
	for k := n; k >= 1; k-- {
		var best *Base
		for _, b := range ix.byChain[chain[k-1]] {
			if len(b.DiffIDs) != k || !platformsCompatible(b.Platform, platform) {
				continue
			}
			if best == nil || preferred(b, best, platform) {
				best = b
			}
		}
		if best == nil {
			continue
		}
		m.Base, m.BaseLayers, m.AppLayers = refOf(best), k, n-k
		if nb := ix.newest(best, platform); nb != nil {
			m.Stale, m.Newest = true, refOf(nb)
		}
		return m
	}
	return m
}

// preferred orders candidate bases with the same chain: an exact platform
// match first, then the newest.
func preferred(a, b *Base, platform string) bool {
	ae, be := a.Platform == platform, b.Platform == platform
	if ae != be {
		return ae
	}
	return newer(a, b)
}

// newest returns the newest base of b's name for a compatible platform when
// it is newer than b and has different content; nil when b is current.
func (ix *Index) newest(b *Base, platform string) *Base {
	var top *Base
	for _, o := range ix.byName[b.Name] {
		if !platformsCompatible(o.Platform, platform) || !platformsCompatible(o.Platform, b.Platform) {
			continue
		}
		if top == nil || newer(o, top) {
			top = o
		}
	}
	if top == nil || top == b || top.TopChainID() == b.TopChainID() || !newer(top, b) {
		return nil
	}
	return top
}
