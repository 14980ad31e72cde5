package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/image"
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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := report.CheckFormat(g.Format, report.FormatTable, report.FormatJSON); err != nil {
				return err
			}
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

// historySteps aligns config history with layers: empty_layer steps own no
// layer; the others take layers in order. Layers beyond the history are
// listed as steps without a command.
func historySteps(im *image.Image, reveal bool) []historyStep {
	var out []historyStep
	byHist := map[int]int{}
	for _, l := range im.Layers {
		if l.HistoryIndex >= 0 {
			byHist[l.HistoryIndex] = l.Index
		}
	}
	used := map[int]bool{}
	if im.Config != nil {
		for i, h := range im.Config.History {
			s := historyStep{Step: i, Instruction: instruction(h.CreatedBy, reveal), Comment: h.Comment}
			if reveal {
				s.CreatedBy = h.CreatedBy
			}
			if h.Created != nil {
				s.Created = h.Created.UTC().Format("2006-01-02T15:04:05Z")
			}
			if li, ok := byHist[i]; ok {
				l := im.Layers[li]
				s.Layer, s.Digest, s.Size = &li, l.Descriptor.Digest, l.Descriptor.Size
				used[li] = true
			}
			if s.Instruction == "" {
				s.Instruction = "(no command recorded)"
			}
			out = append(out, s)
		}
	}
	for _, l := range im.Layers {
		if !used[l.Index] {
			li := l.Index
			out = append(out, historyStep{Step: len(out), Instruction: "(layer without history)", Layer: &li, Digest: l.Descriptor.Digest, Size: l.Descriptor.Size})
		}
	}
	return out
}
