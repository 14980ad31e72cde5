package inspect

import "github.com/stratascan/strata/image"

// ManifestLayers is im's layers as its manifest and config list them,
// without walking them: digests, sizes, media types and the raw build step
// (mask it with Step or MaskCreatedBy before showing it).
func ManifestLayers(im *image.Image) []LayerInfo {
	var out []LayerInfo
	for _, l := range im.Layers {
		li := LayerInfo{Index: l.Index, Digest: l.Descriptor.Digest, DiffID: l.DiffID, MediaType: l.Descriptor.MediaType,
			Size: l.Descriptor.Size, HistoryIndex: l.HistoryIndex}
		if l.History != nil {
			li.CreatedBy = l.History.CreatedBy
		}
		out = append(out, li)
	}
	return out
}
