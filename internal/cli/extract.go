package cli

import (
	"github.com/spf13/cobra"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/report"
)

func init() { register(newExtractCmd) }

func newExtractCmd(g *Globals) *cobra.Command {
	var xo inspect.ExtractOptions
	cmd := &cobra.Command{
		Use:   "extract IMAGE DIR",
		Short: "Write the final filesystem (or one layer) to DIR, safely: nothing outside DIR, no device nodes, capped bytes",
		Long: `Write the final filesystem (or, with --layer N, one layer's own entries) to DIR. Nothing is written
outside DIR: entries whose names climb out are refused, every write goes through an os.Root so a symlink
in the image cannot redirect a later write, device nodes and FIFOs are refused, set-id bits are dropped
and --max-bytes caps what a decompression bomb can write. Refusals are listed on stderr (table) or in
the summary (--format json).`,
		Example: `  strata extract oci:examples/leaky-app:latest ./out
  strata extract --layer 1 --path /app --format json oci:examples/leaky-app:latest ./layer1`,
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
			opts, done := g.walkOptions("extracting", im)
			st, err := inspect.Extract(cmd.Context(), o.store, im, args[1], xo, opts)
			done()
			if st == nil {
				return err
			}
			if g.Format == report.FormatJSON {
				if jerr := report.ExtractJSON(g.Stdout, args[0], args[1], xo, st, err); jerr != nil {
					return jerr
				}
				return err
			}
			report.ExtractSummary(g.Stderr, args[1], st, g.Quiet)
			return err // hints.go adds the flags that help
		},
	}
	cmd.Flags().IntVar(&xo.Layer, "layer", -1, "extract only layer N's own entries (default: the final filesystem)")
	cmd.Flags().StringVar(&xo.Prefix, "path", "", "extract only this path and what is below it")
	cmd.Flags().Int64Var(&xo.MaxBytes, "max-bytes", 8<<30, "stop with an error past this many bytes written, sparse files at their full size (0: no cap)")
	return cmd
}
