package provenance

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/source"
)

// InspectOptions tune [Inspect].
type InspectOptions struct {
	// Reference is recorded in every returned Image (the store's Name when
	// empty and the store is a content.Namer).
	Reference string
	// Platform selects one platform of an index; nil with All false picks
	// every platform too (provenance works per platform).
	Platform *image.Platform
	// FetchSchema1 allows fetching and decompressing the layers of schema 1
	// images, which carry no diff_ids. Without it a schema 1 image is an
	// error wrapping ErrNoDiffIDs.
	FetchSchema1 bool
	Log          *slog.Logger
}

// Inspect reads the manifest tree of s (manifests and configs only, never a
// layer blob except for schema 1 with FetchSchema1) and returns one Image per
// platform image, attestations and caches excluded.
func Inspect(ctx context.Context, s content.Store, opts InspectOptions) ([]Image, error) {
	root, err := source.Load(ctx, s, opts.Log)
	if err != nil {
		return nil, err
	}
	return FromTree(ctx, s, root, opts)
}

// FromTree is [Inspect] for a tree already loaded with source.Load; s is
// only used for schema 1 layers.
func FromTree(ctx context.Context, s content.Store, root *image.Node, opts InspectOptions) ([]Image, error) {
	ref := opts.Reference
	if ref == "" {
		if n, ok := s.(content.Namer); ok {
			ref = n.Name()
		}
	}
	var index image.Digest
	if root.Parsed != nil && root.Parsed.Index != nil {
		index = root.Descriptor.Digest
	}
	var ims []*image.Image
	for _, im := range root.Images() {
		switch im.Kind {
		case image.KindImage, image.KindSchema1:
			if opts.Platform != nil && !im.Platform.Matches(opts.Platform) {
				continue
			}
			ims = append(ims, im)
		}
	}
	if len(ims) == 0 {
		what := "no image manifest"
		if opts.Platform != nil {
			what = "no image for platform " + opts.Platform.String()
		}
		return nil, fmt.Errorf("%w: %s %s holds %s", image.ErrUnsupported, ref, root.Descriptor.Digest, what)
	}
	out := make([]Image, 0, len(ims))
	for _, im := range ims {
		x := Image{Reference: ref, Digest: im.Manifest.Digest, MediaType: im.Manifest.MediaType,
			Platform: im.Platform.String()}
		if im.Manifest.Digest != root.Descriptor.Digest {
			x.Index = index
		}
		if im.Config != nil {
			x.Created = im.Config.Created
		}
		if im.Kind == image.KindSchema1 {
			if !opts.FetchSchema1 {
				return nil, fmt.Errorf("%s %s is a schema 1 manifest: %w without downloading its layers (allow it to fetch them)", ref, im.Manifest.Digest, ErrNoDiffIDs)
			}
			m := schema1Of(root, im)
			if m == nil {
				return nil, fmt.Errorf("%w: %s %s: schema 1 manifest not parsed", image.ErrMalformed, ref, im.Manifest.Digest)
			}
			d, b, err := Schema1DiffIDs(ctx, s, m, opts.Log)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", ref, im.Manifest.Digest, err)
			}
			x.DiffIDs, x.Layers = d, b
		} else {
			for _, l := range im.Layers {
				if l.DiffID == "" {
					return nil, fmt.Errorf("%s %s layer %d: %w", ref, im.Manifest.Digest, l.Index, ErrNoDiffIDs)
				}
				x.DiffIDs = append(x.DiffIDs, l.DiffID)
				x.Layers = append(x.Layers, l.Descriptor.Digest)
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// schema1Of returns the parsed schema 1 manifest behind im.
func schema1Of(root *image.Node, im *image.Image) *image.Schema1 {
	var m *image.Schema1
	root.Walk(func(n *image.Node) {
		if n.Image == im && n.Parsed != nil {
			m = n.Parsed.Schema1
		}
	})
	return m
}
