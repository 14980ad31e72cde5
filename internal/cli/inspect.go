package cli

import (
	"github.com/spf13/cobra"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
)

func init() { register(newInspectCmd) }

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
			out := report.Inspection{Reference: args[0], Digest: o.root.Descriptor.Digest, MediaType: o.root.Descriptor.MediaType, Tree: o.root}
			for _, im := range o.images {
				ii := report.InspectedImage{Manifest: im.Manifest, Kind: im.Kind, Platform: im.Platform.String(), Config: im.ConfigRef}
				if noWalk {
					ii.Layers = inspect.ManifestLayers(im)
				} else {
					opts, done := g.walkOptions("walking "+im.Platform.String(), im)
					a, err := inspect.Analyze(ctx, o.store, im, opts)
					done()
					if err != nil {
						return err
					}
					ii.Layers, ii.WastedBytes, ii.Walked = a.Layers, a.Wasted(), true
					ii.Changes, ii.Omitted = report.LayerChanges(a, report.MaxHTMLChanges)
				}
				out.Images = append(out.Images, ii)
			}
			switch g.Format {
			case report.FormatJSON:
				return report.InspectJSON(g.Stdout, out)
			case report.FormatHTML:
				rep := report.InspectHTML(out, ReadBuildInfo().Version)
				if rep.Provenance, err = htmlProvenance(ctx, g, bases, []scan.Target{{Ref: args[0], Store: o.store, Root: o.root}}); err != nil {
					return err
				}
				return report.HTML(g.Stdout, rep)
			}
			return report.Inspect(g.Stdout, out)
		},
	}
	withFormats(cmd, report.FormatTable, report.FormatJSON, report.FormatHTML)
	cmd.Flags().BoolVar(&noWalk, "manifest-only", false, "read manifests and configs only; do not download or walk layers")
	cmd.Flags().StringVar(&bases, "bases", "", basesHelp)
	_ = cmd.MarkFlagFilename("bases", "db")
	return cmd
}
