package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/provenance/infer"
	"github.com/stratascan/strata/report"
)

func init() { register(newDigestCmd) }

func newDigestCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "digest",
		Short: "Layer digest forensics",
	}
	cmd.AddCommand(newDigestInferCmd(g))
	return cmd
}

func newDigestInferCmd(g *Globals) *cobra.Command {
	var against string
	var profiles []string
	cmd := &cobra.Command{
		Use:   "infer IMAGE",
		Short: "Predict the layer digests a push of a local image would get, per builder's compressor",
		Long: `For each layer of IMAGE (a local image: docker-archive:, oci:, oci-archive:, dir:), recompress its
uncompressed tar the way common builders do and print the digest and size each would push:
go-gzip-6 (classic docker push, BuildKit), go-gzip-1 (crane, ko, kaniko), go-gzip-9 (crane flatten),
pgzip-5 (podman, buildah, skopeo), zstd-3 and zstd-1. With --against REF, fetch the manifest a
registry serves for the same image and say which profile reproduces each layer digest.

These digests depend on the compressor's exact implementation and version (the Go toolchain this
strata was built with, the klauspost module versions); Go 1.27 changed the stdlib deflate output.
To prove which base an image is built on use 'strata base check', which compares diff_ids.`,
		Example: `  strata digest infer oci:examples/leaky-app:latest
  strata digest infer --profile go-gzip-6,pgzip-5 --format json oci:examples/leaky-app:latest
  strata digest infer docker-archive:app.tar --against registry.example/team/app:1.4`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeFirstRef,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ps, err := infer.SelectProfiles(profiles...)
			if err != nil {
				return err
			}
			o, err := g.openImage(ctx, args[0])
			if err != nil {
				return err
			}
			defer o.Close()
			im, err := o.single()
			if err != nil {
				return err
			}
			layers, err := infer.Layers(ctx, o.store, im, infer.Options{Profiles: ps, Log: g.Log})
			if err != nil {
				return err
			}
			rep := report.Inference{Image: args[0], Digest: im.Manifest.Digest, Platform: im.Platform.String(),
				Caveat: infer.Caveat(), Versions: infer.Versions(), Profiles: ps, Layers: layers}
			if against != "" {
				open, _, err := g.imageOpener()
				if err != nil {
					return err
				}
				s, err := open(ctx, against)
				if err != nil {
					return err
				}
				served, err := provenance.Inspect(ctx, s, provenance.InspectOptions{Reference: against, Platform: im.Platform, Log: g.Log})
				s.Close()
				if err != nil {
					return fmt.Errorf("--against %s: %w", against, err)
				}
				n, err := infer.Against(layers, served[0])
				if err != nil {
					return fmt.Errorf("--against %s: %w", against, err)
				}
				rep.Against, rep.ServedBy, rep.Reproduced = against, served[0].Digest, &n
			}
			if g.Format == report.FormatJSON {
				return report.JSON(g.Stdout, rep)
			}
			return report.InferTable(g.Stdout, rep)
		},
	}
	cmd.Flags().StringVar(&against, "against", "", "registry reference of the pushed image to explain")
	cmd.Flags().StringSliceVar(&profiles, "profile", nil, "only these profiles (default all)")
	return cmd
}
