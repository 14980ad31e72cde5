package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/report"
)

func init() { register(newLsCmd) }

func newLsCmd(g *Globals) *cobra.Command {
	var layerIdx int
	var allLayers bool
	cmd := &cobra.Command{
		Use:   "ls IMAGE [PATH]",
		Short: "List the final filesystem, one layer's entries (--layer N) or every entry of every layer with its state (--all-layers)",
		Long: `List files. By default: the filesystem a container would see. With --layer N: that layer's own entries.
With --all-layers: every entry of every layer, each with its state: present (visible in the final image),
overwritten (a later layer replaced it) or deleted (a later whiteout or opaque directory hid it), and the
layer that hid it. Deleted and overwritten files are still in the image; recover them with strata cat.`,
		Example: `  strata ls oci:examples/leaky-app:latest
  strata ls --all-layers oci:examples/leaky-app:latest /app
  strata ls --layer 1 --format json oci:examples/leaky-app:latest`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeFirstRef,
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 2 {
				prefix = args[1]
			}
			o, err := g.openImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer o.Close()
			im, err := o.single()
			if err != nil {
				return err
			}
			if layerIdx >= len(im.Layers) {
				return fmt.Errorf("--layer %d out of range: the image has %d layers (0-%d)", layerIdx, len(im.Layers), len(im.Layers)-1)
			}
			opts, done := g.walkOptions("reading layers", im)
			a, err := inspect.Analyze(cmd.Context(), o.store, im, opts)
			done()
			if err != nil {
				return err
			}
			var rows []inspect.Row
			switch {
			case allLayers:
				rows = a.Rows(prefix)
			case layerIdx >= 0:
				rows = a.LayerRows(layerIdx, prefix)
			default:
				rows = a.FinalRows(prefix)
			}
			if g.Format == report.FormatJSON {
				return report.FileRowsJSON(g.Stdout, rows)
			}
			return report.FileRows(g.Stdout, rows)
		},
	}
	cmd.Flags().IntVar(&layerIdx, "layer", -1, "list only the entries of layer N (0 = base)")
	cmd.Flags().BoolVar(&allLayers, "all-layers", false, "list every entry of every layer with its state")
	cmd.MarkFlagsMutuallyExclusive("layer", "all-layers")
	return cmd
}
