package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
)

// InspectedImage is one platform image as strata inspect shows it: its
// manifest, config and layers, walked (with file statistics and wasted
// bytes) or as the manifest lists them.
type InspectedImage struct {
	Manifest    image.Descriptor    `json:"manifest"`
	Kind        image.Kind          `json:"kind"`
	Platform    string              `json:"platform,omitempty"`
	Config      image.Descriptor    `json:"config"`
	Layers      []inspect.LayerInfo `json:"layers"`
	WastedBytes int64               `json:"wastedBytes"`
	Walked      bool                `json:"walked"`
	// Changes and Omitted are each layer's entries for the HTML report
	// (see HTMLImage).
	Changes [][]HTMLChange `json:"-"`
	Omitted []int          `json:"-"`
}

// Inspection is what strata inspect shows of a reference: its manifest
// tree and every platform image.
type Inspection struct {
	Reference string           `json:"reference"`
	Digest    image.Digest     `json:"digest"`
	MediaType string           `json:"mediaType"`
	Tree      *image.Node      `json:"tree"`
	Images    []InspectedImage `json:"images"`
}

// InspectJSON writes out as JSON, secret-looking build-arg values in the
// build steps masked (inspect.MaskCreatedBy).
func InspectJSON(w io.Writer, out Inspection) error {
	for _, ii := range out.Images {
		for i := range ii.Layers {
			ii.Layers[i].CreatedBy = inspect.MaskCreatedBy(ii.Layers[i].CreatedBy)
		}
	}
	return JSON(w, out)
}

// Inspect writes out for people: the reference, the manifest tree, then a
// table of every image's layers (build steps masked) and its wasted bytes.
func Inspect(w io.Writer, out Inspection) error {
	fmt.Fprintf(w, "Reference:  %s\nDigest:     %s\nMedia type: %s\n\nManifest tree:\n", out.Reference, out.Digest, out.MediaType)
	writeNode(w, out.Tree, 1)
	for _, im := range out.Images {
		plat := im.Platform
		if plat == "" {
			plat = "(no platform)"
		}
		fmt.Fprintf(w, "\nImage %s  %s (%s)\n", plat, im.Manifest.Digest, im.Kind)
		rows := [][]string{}
		for _, l := range im.Layers {
			row := []string{strconv.Itoa(l.Index), l.Digest.Short(), l.DiffID.Short(), MediaShort(l.MediaType), Bytes(l.Size)}
			if im.Walked {
				row = append(row, Bytes(l.Uncompressed), strconv.Itoa(l.Stats.Added), strconv.Itoa(l.Stats.Modified), strconv.Itoa(l.Stats.Deleted), Bytes(l.Stats.Wasted))
			}
			row = append(row, Truncate(inspect.Step(l.CreatedBy, false), 60))
			rows = append(rows, row)
		}
		headers := []string{"#", "DIGEST", "DIFF_ID", "TYPE", "SIZE"}
		if im.Walked {
			headers = append(headers, "UNCOMPRESSED", "ADDED", "MODIFIED", "DELETED", "WASTED")
		}
		headers = append(headers, "CREATED BY")
		if err := Table(w, headers, rows); err != nil {
			return err
		}
		if im.Walked {
			fmt.Fprintf(w, "Wasted: %s (bytes hidden by later layers, still in the image)\n", Bytes(im.WastedBytes))
		}
	}
	return nil
}

func writeNode(w io.Writer, n *image.Node, depth int) {
	label := string(n.Kind)
	if label == "" {
		label = "blob"
	}
	extra := ""
	if p := n.Descriptor.Platform; p != nil {
		extra += " " + p.String()
	}
	if n.Descriptor.IsAttestation() {
		extra += " attestation for " + image.Digest(n.Descriptor.Annotations[image.AnnotationReferenceDigest]).Short()
	}
	if n.Repeat {
		extra += " (listed again; shown once above)"
	}
	if n.Skipped {
		extra += " (not loaded: another platform)"
	}
	if n.Warning != "" {
		extra += " WARNING: " + n.Warning
	}
	fmt.Fprintf(w, "%s%s %s %s %s%s\n", strings.Repeat("  ", depth), label, n.Descriptor.Digest, MediaShort(n.Descriptor.MediaType), Bytes(n.Descriptor.Size), extra)
	if n.Image != nil && n.Parsed != nil && n.Parsed.Index == nil {
		if n.Image.ConfigRef.Digest != "" {
			fmt.Fprintf(w, "%sconfig %s %s\n", strings.Repeat("  ", depth+1), n.Image.ConfigRef.Digest, MediaShort(n.Image.ConfigRef.MediaType))
		}
		fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", depth+1), Plural(len(n.Image.Layers), "layer", "layers"))
	}
	for _, c := range n.Children {
		writeNode(w, c, depth+1)
	}
}

var mediaNames = map[string]string{
	image.MediaTypeOCIIndex: "oci-index", image.MediaTypeOCIManifest: "oci-manifest", image.MediaTypeDockerList: "docker-list",
	image.MediaTypeDockerManifest: "docker-manifest", image.MediaTypeSchema1: "schema1", image.MediaTypeSchema1Signed: "schema1-signed",
	image.MediaTypeOCILayerGzip: "tar+gzip", image.MediaTypeOCILayerZstd: "tar+zstd", image.MediaTypeOCILayer: "tar",
	image.MediaTypeDockerLayerGzip: "tar.gzip", image.MediaTypeDockerLayer: "tar", image.MediaTypeDockerLayerZstd: "tar.zstd",
	image.MediaTypeBuildKitCache: "buildkit-cacheconfig", image.MediaTypeInToto: "in-toto", image.MediaTypeOCIConfig: "oci-config",
	image.MediaTypeDockerConfig: "docker-config",
}

// MediaShort names a media type briefly (oci-manifest, tar+gzip), "-" when
// empty, the type itself when strata has no short name for it.
func MediaShort(mt string) string {
	if s, ok := mediaNames[mt]; ok {
		return s
	}
	if mt == "" {
		return "-"
	}
	return mt
}
