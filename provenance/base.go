package provenance

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/stratascan/strata/image"
)

// Errors of this package.
var (
	// ErrNoLayers: an image has no layers, so it cannot serve as a base.
	ErrNoLayers = errors.New("image has no layers")
	// ErrNoDiffIDs: an image's diff_ids are unknown (schema 1 without its
	// layers, a config-less artifact).
	ErrNoDiffIDs = errors.New("image diff_ids unknown")
	// ErrInvalidBase: a base record is inconsistent (ChainIDs that do not
	// follow from its diff_ids, a missing name or digest).
	ErrInvalidBase = errors.New("invalid base record")
	// ErrNotFound: no base matches a name, reference or digest.
	ErrNotFound = errors.New("no such base")
)

// Image is what provenance needs to know about one platform image: where it
// came from and its layer chain. It is read from manifests and the config
// only.
type Image struct {
	// Reference is how the image was named when read (for example
	// "registry.example/debian:12" or "oci:/path:tag").
	Reference string `json:"reference"`
	// Digest is the digest of the platform manifest.
	Digest image.Digest `json:"digest"`
	// Index is the digest of the index the manifest was listed in, if any.
	Index image.Digest `json:"index,omitempty"`
	// MediaType of the platform manifest.
	MediaType string `json:"mediaType,omitempty"`
	// Platform is os/arch[/variant], "" when unknown.
	Platform string `json:"platform,omitempty"`
	// DiffIDs are the uncompressed layer digests, base first.
	DiffIDs []image.Digest `json:"diff_ids"`
	// Layers are the compressed layer digests as the source serves them,
	// base first (schema 1: the blobSums of the non-throwaway layers).
	Layers []image.Digest `json:"layers"`
	// Created is the config's creation time, if it has one.
	Created *time.Time `json:"created,omitempty"`
}

// Base is an approved base image: one platform image under a policy name.
type Base struct {
	// Name groups versions of the same base ("debian", "ubi9"). A newer
	// approved image of the same name makes older ones stale.
	Name string `json:"name"`
	Image
	// ChainIDs holds the ChainID of every prefix of DiffIDs; the last one
	// identifies the base.
	ChainIDs []image.Digest `json:"chain_ids"`
	// Added is when the base was approved.
	Added time.Time `json:"added"`
}

// NewBase records im as an approved base called name, added at now.
func NewBase(name string, im Image, now time.Time) (Base, error) {
	b := Base{Name: name, Image: im, Added: now.UTC()}
	b.ChainIDs = image.ChainIDs(im.DiffIDs)
	return b, b.Validate()
}

// TopChainID is the ChainID of all of the base's layers.
func (b *Base) TopChainID() image.Digest {
	if len(b.ChainIDs) == 0 {
		return ""
	}
	return b.ChainIDs[len(b.ChainIDs)-1]
}

// Validate checks that the record is complete and self-consistent.
func (b *Base) Validate() error {
	switch {
	case b.Name == "":
		return fmt.Errorf("%w: base %s has no name", ErrInvalidBase, b.Digest)
	case b.Digest == "":
		return fmt.Errorf("%w: base %q has no manifest digest", ErrInvalidBase, b.Name)
	case len(b.DiffIDs) == 0:
		return fmt.Errorf("%w: base %q (%s): %w", ErrInvalidBase, b.Name, b.Digest, ErrNoLayers)
	}
	if _, err := image.ParseDigest(string(b.Digest)); err != nil {
		return fmt.Errorf("%w: base %q: %w", ErrInvalidBase, b.Name, err)
	}
	for i, d := range b.DiffIDs {
		if _, err := image.ParseDigest(string(d)); err != nil {
			return fmt.Errorf("%w: base %q diff_id %d: %w", ErrInvalidBase, b.Name, i, err)
		}
	}
	want := image.ChainIDs(b.DiffIDs)
	if len(b.ChainIDs) != len(want) {
		return fmt.Errorf("%w: base %q (%s) lists %d chain_ids for %d diff_ids", ErrInvalidBase, b.Name, b.Digest, len(b.ChainIDs), len(want))
	}
	for i := range want {
		if b.ChainIDs[i] != want[i] {
			return fmt.Errorf("%w: base %q (%s) chain_ids[%d] is %s but its diff_ids give %s", ErrInvalidBase, b.Name, b.Digest, i, b.ChainIDs[i], want[i])
		}
	}
	return nil
}

// newer reports whether a is a newer version than b: by created time, then
// by added time, then by digest for a total order.
func newer(a, b *Base) bool {
	ac, bc := created(a), created(b)
	if !ac.Equal(bc) {
		return ac.After(bc)
	}
	if !a.Added.Equal(b.Added) {
		return a.Added.After(b.Added)
	}
	return a.Digest > b.Digest
}

func created(b *Base) time.Time {
	if b.Created == nil {
		return time.Time{}
	}
	return *b.Created
}

// SortBases orders bases by name, platform, then oldest first, the order of
// [Store.List] and [Store.Export].
func SortBases(bs []Base) {
	sort.SliceStable(bs, func(i, j int) bool {
		a, b := &bs[i], &bs[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Platform != b.Platform {
			return a.Platform < b.Platform
		}
		if a.Digest == b.Digest {
			return false
		}
		return newer(b, a)
	})
}

// platformsCompatible reports whether a base recorded for platform bp can
// underlie an image of platform ap ("os/arch[/variant]"; "" = unknown,
// compatible with anything; a missing variant matches any variant).
func platformsCompatible(bp, ap string) bool {
	if bp == "" || ap == "" || bp == ap {
		return true
	}
	b, err1 := image.ParsePlatform(bp)
	a, err2 := image.ParsePlatform(ap)
	if err1 != nil || err2 != nil {
		return false
	}
	if b.OS != a.OS || b.Architecture != a.Architecture {
		return false
	}
	return b.Variant == "" || a.Variant == "" || b.Variant == a.Variant
}
