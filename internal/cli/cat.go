package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/report"
)

func init() { register(newCatCmd) }

func newCatCmd(g *Globals) *cobra.Command {
	var layerIdx int
	var maxBytes int64
	cmd := &cobra.Command{
		Use:   "cat IMAGE PATH",
		Short: "Print a file as it was in a layer; by default the last layer that has it, even if a later layer deleted it",
		Example: `  strata cat oci:examples/leaky-app:latest /app/.env          # recover a deleted file
  strata cat --layer 2 oci:examples/leaky-app:latest /app/requirements.txt`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeFirstRef,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := g.openImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer o.Close()
			im, err := o.single()
			if err != nil {
				return err
			}
			info, err := inspect.ReadFile(cmd.Context(), o.store, im, args[1], layerIdx, g.Stdout, inspect.Options{Logger: g.Log, MaxFileBytes: maxBytes})
			if errors.Is(err, inspect.ErrLimit) {
				return fmt.Errorf("%w (raise --max-bytes to read it)", err)
			}
			if err != nil {
				return err
			}
			if info.State != overlay.Present && !g.Quiet {
				fmt.Fprintf(g.Stderr, "strata: %s from layer %d is %s in the final image (by layer %d); these bytes are still in the image\n",
					report.ImagePath(info.Path), info.Layer, info.State, info.HiddenBy)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&layerIdx, "layer", -1, "read the file from layer N (default: the last layer that has it)")
	cmd.Flags().Int64Var(&maxBytes, "max-bytes", 8<<30, "refuse a file larger than this many bytes, sparse holes included (0: no cap)")
	return withFormats(cmd, report.FormatTable)
}
