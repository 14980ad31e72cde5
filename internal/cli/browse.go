package cli

import (
	"fmt"
	"os"
	"strconv"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/stratascan/strata/browse"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/secret"
)

func init() { register(newBrowseCmd) }

func newBrowseCmd(g *Globals) *cobra.Command {
	var o browse.Options
	var noCache bool
	var cacheDir string
	cmd := &cobra.Command{
		Use:   "browse IMAGE",
		Short: "Explore an image interactively: layers, the filesystem as of each layer, deleted files, findings",
		Long: `Open a terminal browser of one image: the layers with their build steps (secret-looking build-arg
values masked), sizes, added/modified/deleted counts and wasted bytes; the filesystem as of the selected
layer (or that layer's own changes) with every entry's state, deleted-but-recoverable files marked; a
text viewer with secrets masked; and x to save the selected entry under --save-dir through the same safe
extraction as strata extract. Keys are listed in the footer. NO_COLOR turns colour off. When standard
output is not a terminal, the first screen is printed and the command exits.`,
		Example: `  strata browse oci:examples/leaky-app:latest
  strata browse --save-dir ./recovered docker.io/library/alpine:3.20`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeFirstRef,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			op, err := g.openImage(ctx, args[0])
			if err != nil {
				return err
			}
			defer op.Close()
			im, err := op.single()
			if err != nil {
				return err
			}
			if o.Engine, err = secret.New(secret.Options{Logger: g.Log}); err != nil {
				return err
			}
			if !noCache {
				if c, err := scan.OpenCache(ctx, cacheDir); err != nil {
					g.Log.Warn("layer cache unavailable; scanning without it", "err", err)
				} else {
					defer c.Close()
					o.Cache = c
				}
			}
			out := report.Unwrap(g.Stdout)
			o.Ref, o.Logger = args[0], g.Log
			if out == g.Stdout { // not a terminal: print the first screen
				w := 80
				if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
					w = n
				}
				s, err := browse.Screen(ctx, op.store, im, o, w, 24)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(g.Stdout, s)
				return err
			}
			o.Color = os.Getenv("NO_COLOR") == ""
			p := tea.NewProgram(browse.New(ctx, op.store, im, o), tea.WithContext(ctx), tea.WithInput(g.Stdin), tea.WithOutput(out), tea.WithAltScreen(), tea.WithMouseCellMotion())
			if _, err := p.Run(); err != nil {
				return fmt.Errorf("browse %s: %w", args[0], err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.ShowSecrets, "show-secrets", false, "show secret values in the file viewer (default: masked)")
	f.StringVar(&o.SaveDir, "save-dir", ".", "directory x saves the selected file or directory into")
	f.StringVar(&cacheDir, "cache-dir", "", "per-layer scan cache directory (default: the user cache dir/strata)")
	f.BoolVar(&noCache, "no-cache", false, "neither read nor write the scan cache")
	return cmd
}
