package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
)

func init() { register(newInspectCmd) }

type inspectImage struct {
	Manifest    image.Descriptor    `json:"manifest"`
	Kind        image.Kind          `json:"kind"`
	Platform    string              `json:"platform,omitempty"`
	Config      image.Descriptor    `json:"config"`
	Layers      []inspect.LayerInfo `json:"layers"`
	WastedBytes int64               `json:"wastedBytes"`
	Walked      bool                `json:"walked"`
	// changes and omitted are each layer's entries for the HTML report.
	changes [][]report.HTMLChange
	omitted []int
}

type inspectOutput struct {
	Reference string         `json:"reference"`
	Digest    image.Digest   `json:"digest"`
	MediaType string         `json:"mediaType"`
	Tree      *image.Node    `json:"tree"`
	Images    []inspectImage `json:"images"`
}

func newInspectCmd(g *Globals) *cobra.Command {
	var noWalk bool
	var bases string
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show the manifest tree and, per layer, its digests, sizes, build step and what it added, changed, deleted and wasted",
		Example: `  strata inspect oci:examples/leaky-app:latest
  strata inspect --manifest-only --format json oci:examples/leaky-app:latest
  strata inspect --format html oci:examples/leaky-app:latest > layers.html
  strata inspect --all-platforms docker://registry.example/app:1.0 --format json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeFirstRef,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkBasesFlag(g, bases); err != nil {
				return err
			}
			o, err := g.openImage(ctx, args[0])
			if err != nil {
				return err
			}
			defer o.Close()
			out := inspectOutput{Reference: args[0], Digest: o.root.Descriptor.Digest, MediaType: o.root.Descriptor.MediaType, Tree: o.root}
			for _, im := range o.images {
				ii := inspectImage{Manifest: im.Manifest, Kind: im.Kind, Platform: im.Platform.String(), Config: im.ConfigRef}
				if noWalk {
					for _, l := range im.Layers {
						li := inspect.LayerInfo{Index: l.Index, Digest: l.Descriptor.Digest, DiffID: l.DiffID, MediaType: l.Descriptor.MediaType, Size: l.Descriptor.Size, HistoryIndex: l.HistoryIndex}
						if l.History != nil {
							li.CreatedBy = l.History.CreatedBy
						}
						ii.Layers = append(ii.Layers, li)
					}
				} else {
					opts, done := g.walkOptions("walking "+im.Platform.String(), im)
					a, err := inspect.Analyze(ctx, o.store, im, opts)
					done()
					if err != nil {
						return err
					}
					ii.Layers, ii.WastedBytes, ii.Walked = a.Layers, a.Wasted(), true
					ii.changes, ii.omitted = layerChanges(a, maxHTMLChanges)
				}
				out.Images = append(out.Images, ii)
			}
			switch g.Format {
			case report.FormatJSON:
				for _, ii := range out.Images {
					for i := range ii.Layers {
						ii.Layers[i].CreatedBy = maskCreatedBy(ii.Layers[i].CreatedBy)
					}
				}
				return report.JSON(g.Stdout, out)
			case report.FormatHTML:
				rep := inspectHTML(out)
				if rep.Provenance, err = htmlProvenance(ctx, g, bases, []scan.Target{{Ref: args[0], Store: o.store, Root: o.root}}); err != nil {
					return err
				}
				return report.HTML(g.Stdout, rep)
			}
			return printInspect(g.Stdout, out)
		},
	}
	withFormats(cmd, report.FormatTable, report.FormatJSON, report.FormatHTML)
	cmd.Flags().BoolVar(&noWalk, "manifest-only", false, "read manifests and configs only; do not download or walk layers")
	cmd.Flags().StringVar(&bases, "bases", "", basesHelp)
	_ = cmd.MarkFlagFilename("bases", "db")
	return cmd
}

func printInspect(w io.Writer, out inspectOutput) error {
	fmt.Fprintf(w, "Reference:  %s\nDigest:     %s\nMedia type: %s\n\nManifest tree:\n", out.Reference, out.Digest, out.MediaType)
	printNode(w, out.Tree, 1)
	for _, im := range out.Images {
		plat := im.Platform
		if plat == "" {
			plat = "(no platform)"
		}
		fmt.Fprintf(w, "\nImage %s  %s (%s)\n", plat, im.Manifest.Digest, im.Kind)
		rows := [][]string{}
		for _, l := range im.Layers {
			row := []string{strconv.Itoa(l.Index), l.Digest.Short(), l.DiffID.Short(), mediaShort(l.MediaType), report.Bytes(l.Size)}
			if im.Walked {
				row = append(row, report.Bytes(l.Uncompressed), strconv.Itoa(l.Stats.Added), strconv.Itoa(l.Stats.Modified), strconv.Itoa(l.Stats.Deleted), report.Bytes(l.Stats.Wasted))
			}
			row = append(row, report.Truncate(createdBy(l.CreatedBy), 60))
			rows = append(rows, row)
		}
		headers := []string{"#", "DIGEST", "DIFF_ID", "TYPE", "SIZE"}
		if im.Walked {
			headers = append(headers, "UNCOMPRESSED", "ADDED", "MODIFIED", "DELETED", "WASTED")
		}
		headers = append(headers, "CREATED BY")
		if err := report.Table(w, headers, rows); err != nil {
			return err
		}
		if im.Walked {
			fmt.Fprintf(w, "Wasted: %s (bytes hidden by later layers, still in the image)\n", report.Bytes(im.WastedBytes))
		}
	}
	return nil
}

func printNode(w io.Writer, n *image.Node, depth int) {
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
	fmt.Fprintf(w, "%s%s %s %s %s%s\n", strings.Repeat("  ", depth), label, n.Descriptor.Digest, mediaShort(n.Descriptor.MediaType), report.Bytes(n.Descriptor.Size), extra)
	if n.Image != nil && n.Parsed != nil && n.Parsed.Index == nil {
		if n.Image.ConfigRef.Digest != "" {
			fmt.Fprintf(w, "%sconfig %s %s\n", strings.Repeat("  ", depth+1), n.Image.ConfigRef.Digest, mediaShort(n.Image.ConfigRef.MediaType))
		}
		fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", depth+1), report.Plural(len(n.Image.Layers), "layer", "layers"))
	}
	for _, c := range n.Children {
		printNode(w, c, depth+1)
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

func mediaShort(mt string) string {
	if s, ok := mediaNames[mt]; ok {
		return s
	}
	if mt == "" {
		return "-"
	}
	return mt
}
