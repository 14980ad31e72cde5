package cli

import (
	"github.com/spf13/cobra"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/report"
)

func init() { register(newHistoryCmd) }

func newHistoryCmd(g *Globals) *cobra.Command {
	var reveal bool
	cmd := &cobra.Command{
		Use:   "history IMAGE",
		Short: "Reconstruct the build steps from the config history, each marked with the layer it made (or none)",
		Example: `  strata history oci:examples/leaky-app:latest
  strata history --format json oci:examples/leaky-app:latest`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeFirstRef,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := g.openImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer o.Close()
			var ims []report.HistoryImage
			for _, im := range o.images {
				ims = append(ims, report.HistoryImage{Platform: im.Platform, Manifest: im.Manifest.Digest, Steps: inspect.History(im, reveal)})
			}
			if g.Format == report.FormatJSON {
				return report.HistoryJSON(g.Stdout, ims)
			}
			return report.History(g.Stdout, ims)
		},
	}
	cmd.Flags().BoolVar(&reveal, "show-secrets", false, "print build-arg values with secret-looking names in clear")
	return cmd
}
