package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/report"
)

func init() { register(newExtractCmd) }

// extractOutput is the --format json summary of an extraction.
type extractOutput struct {
	Image     string            `json:"image"`
	Directory string            `json:"directory"`
	Layer     *int              `json:"layer"`
	Path      string            `json:"path,omitempty"`
	Files     int               `json:"files"`
	Dirs      int               `json:"dirs"`
	Links     int               `json:"links"`
	Bytes     int64             `json:"bytes"`
	Refused   []inspect.Refusal `json:"refused"`
	Error     string            `json:"error,omitempty"`
}

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
				out := extractOutput{Image: args[0], Directory: args[1], Path: xo.Prefix, Files: st.Files, Dirs: st.Dirs,
					Links: st.Links, Bytes: st.Bytes, Refused: st.Refused}
				if xo.Layer >= 0 {
					out.Layer = &xo.Layer
				}
				if out.Refused == nil {
					out.Refused = []inspect.Refusal{}
				}
				for i := range out.Refused {
					out.Refused[i].Path = report.ImagePath(out.Refused[i].Path)
				}
				if err != nil {
					out.Error = err.Error()
				}
				if jerr := report.JSON(g.Stdout, out); jerr != nil {
					return jerr
				}
				return err
			}
			for _, r := range st.Refused {
				fmt.Fprintf(g.Stderr, "strata: refused layer %d %s: %s\n", r.Layer, report.ImagePath(r.Path), r.Reason)
			}
			if !g.Quiet {
				fmt.Fprintf(g.Stderr, "strata: wrote %s (%s), %s, %s to %s; refused %s\n",
					report.Plural(st.Files, "file", "files"), report.Bytes(st.Bytes), report.Plural(st.Dirs, "dir", "dirs"),
					report.Plural(st.Links, "link", "links"), args[1], report.Plural(len(st.Refused), "entry", "entries"))
			}
			return err // hints.go adds the flags that help
		},
	}
	cmd.Flags().IntVar(&xo.Layer, "layer", -1, "extract only layer N's own entries (default: the final filesystem)")
	cmd.Flags().StringVar(&xo.Prefix, "path", "", "extract only this path and what is below it")
	cmd.Flags().Int64Var(&xo.MaxBytes, "max-bytes", 8<<30, "stop with an error past this many bytes written, sparse files at their full size (0: no cap)")
	return cmd
}
