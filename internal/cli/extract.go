package cli

import (
	"errors"
	"fmt"

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
		Example: `  strata extract oci:examples/leaky:latest ./out
  strata extract --layer 0 --path app oci:examples/leaky:latest ./layer0`,
		Args: cobra.ExactArgs(2),
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
			if st != nil {
				for _, r := range st.Refused {
					fmt.Fprintf(g.Stderr, "strata: refused layer %d /%s: %s\n", r.Layer, r.Path, r.Reason)
				}
				if !g.Quiet {
					fmt.Fprintf(g.Stderr, "strata: wrote %d files (%s), %d dirs, %d links to %s; refused %d entries\n",
						st.Files, report.Bytes(st.Bytes), st.Dirs, st.Links, args[1], len(st.Refused))
				}
			}
			if errors.Is(err, inspect.ErrLimit) {
				return fmt.Errorf("%w (raise --max-bytes or narrow --path)", err)
			}
			return err
		},
	}
	cmd.Flags().IntVar(&xo.Layer, "layer", -1, "extract only layer N's own entries (default: the final filesystem)")
	cmd.Flags().StringVar(&xo.Prefix, "path", "", "extract only this path and what is below it")
	cmd.Flags().Int64Var(&xo.MaxBytes, "max-bytes", 8<<30, "stop with an error past this many bytes written, sparse files at their full size (0: no cap)")
	return cmd
}
