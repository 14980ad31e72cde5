package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/report"
)

func init() { register(newHistoryCmd) }

type historyStep struct {
	Step        int          `json:"step"`
	Instruction string       `json:"instruction"`
	CreatedBy   string       `json:"createdBy,omitempty"` // raw, only with --show-secrets
	Comment     string       `json:"comment,omitempty"`
	Created     string       `json:"created,omitempty"`
	Layer       *int         `json:"layer"`
	Digest      image.Digest `json:"digest,omitempty"`
	Size        int64        `json:"size,omitempty"`
}

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
			var all [][]historyStep
			for _, im := range o.images {
				all = append(all, historySteps(im, reveal))
			}
			if g.Format == report.FormatJSON {
				if len(all) == 1 {
					return report.JSON(g.Stdout, all[0])
				}
				return report.JSON(g.Stdout, all)
			}
			for i, steps := range all {
				im := o.images[i]
				if len(all) > 1 {
					fmt.Fprintf(g.Stdout, "# %s %s\n", im.Platform, im.Manifest.Digest)
				}
				rows := [][]string{}
				for _, s := range steps {
					where := "no layer"
					if s.Layer != nil {
						where = fmt.Sprintf("layer %d %s %s", *s.Layer, s.Digest.Short(), report.Bytes(s.Size))
					}
					rows = append(rows, []string{strconv.Itoa(s.Step), s.Instruction, "# " + where})
				}
				if err := report.Table(g.Stdout, nil, rows); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&reveal, "show-secrets", false, "print build-arg values with secret-looking names in clear")
	return cmd
}

// historySteps turns im's build steps (image.Steps) into the output rows.
func historySteps(im *image.Image, reveal bool) []historyStep {
	var out []historyStep
	for _, st := range im.Steps() {
		s := historyStep{Step: st.Index}
		if h := st.History; h != nil {
			s.Instruction, s.Comment = instruction(h.CreatedBy, reveal), h.Comment
			if reveal {
				s.CreatedBy = h.CreatedBy
			}
			if h.Created != nil {
				s.Created = h.Created.UTC().Format("2006-01-02T15:04:05Z")
			}
			if s.Instruction == "" {
				s.Instruction = "(no command recorded)"
			}
		} else {
			s.Instruction = "(layer without history)"
		}
		if l := st.Layer; l != nil {
			li := l.Index
			s.Layer, s.Digest, s.Size = &li, l.Descriptor.Digest, l.Descriptor.Size
		}
		out = append(out, s)
	}
	return out
}

// createdBy turns a history created_by into a Dockerfile-like instruction
// with secret-looking build-arg values masked.
func createdBy(s string) string { return instruction(s, false) }

// instruction renders a created_by: the step, then its build args, those
// whose names look like credentials (secret.IsSecretName) masked unless
// reveal: build args are the classic leak through history.
func instruction(createdBy string, reveal bool) string { return inspect.Step(createdBy, reveal) }

// maskCreatedBy masks credential-looking build-arg values in a raw
// created_by (inspect.MaskCreatedBy).
func maskCreatedBy(raw string) string { return inspect.MaskCreatedBy(raw) }
