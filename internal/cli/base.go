package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/source"
)

func init() { register(newBaseCmd) }

func newBaseCmd(g *Globals) *cobra.Command {
	var basesPath string
	cmd := &cobra.Command{
		Use:   "base",
		Short: "Approve base images and prove which approved base each image is built on",
		Long: `strata base keeps a list of approved base images and checks application images against it.

The proof uses the uncompressed layer chain (config rootfs.diff_ids folded into ChainIDs), so it holds
whatever compression a registry or builder applied; checking reads only manifests and configs.

The list lives in an SQLite file: --bases PATH, else $STRATA_BASES, else $XDG_DATA_HOME/strata/bases.db
(~/.local/share/strata/bases.db; on macOS and Windows the user config dir). Export it to JSON to keep
it in git as policy.`,
	}
	cmd.PersistentFlags().StringVar(&basesPath, "bases", "", "approved-base store (SQLite file; default $STRATA_BASES or the user data dir)")
	opener := func(readOnly bool) storeOpener {
		return func(ctx context.Context) (*provenance.Store, error) {
			p := basesPath
			if p == "" {
				var err error
				if p, err = provenance.DefaultPath(); err != nil {
					return nil, fmt.Errorf("%w: pass --bases PATH", err)
				}
			}
			if readOnly {
				return provenance.OpenReadOnly(ctx, p)
			}
			return provenance.Open(ctx, p)
		}
	}
	openStore, readStore := opener(false), opener(true)
	cmd.AddCommand(
		withFormats(newBaseAddCmd(g, openStore), report.FormatTable),
		newBaseListCmd(g, readStore),
		withFormats(newBaseRemoveCmd(g, openStore), report.FormatTable),
		newBaseExportCmd(g, readStore),
		withFormats(newBaseImportCmd(g, openStore), report.FormatTable),
		newBaseCheckCmd(g, readStore))
	return cmd
}

type storeOpener func(context.Context) (*provenance.Store, error)

// imageOpener opens references with the run's one registry client, so that
// many images of one registry share connections and tokens.
func (g *Globals) imageOpener() (provenance.Opener, *registry.Client, error) {
	client, err := g.registryClient()
	if err != nil {
		return nil, nil, err
	}
	return g.openStore, client, nil
}

func (g *Globals) platformFlag() (*image.Platform, error) {
	if g.Platform == "" {
		return nil, nil
	}
	return image.ParsePlatform(g.Platform)
}

func newBaseAddCmd(g *Globals, openStore storeOpener) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "add IMAGE...",
		Short: "Approve base images (every platform of an index; --platform for one)",
		Long: `Record each IMAGE (any source: registry, oci:, dir:, docker-archive:, oci-archive:) as an approved base:
name, reference, manifest digest, platform, diff_ids, ChainIDs, compressed layer digests and created time.
Schema 1 images (old registries) carry no diff_ids: their layers are fetched once, verified and
decompressed to compute them. The name defaults to the repository path; a newer approved image of the
same name makes images built on older ones stale.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			want, err := g.platformFlag()
			if err != nil {
				return err
			}
			open, _, err := g.imageOpener()
			if err != nil {
				return err
			}
			st, err := openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			now := time.Now()
			var bases []provenance.Base
			for _, ref := range args {
				s, err := open(ctx, ref)
				if err != nil {
					return err
				}
				ims, err := provenance.Inspect(ctx, s, provenance.InspectOptions{Reference: ref, Platform: want, FetchSchema1: true, Log: g.Log})
				s.Close()
				if err != nil {
					return fmt.Errorf("add %s: %w", ref, err)
				}
				n := name
				if n == "" {
					n = provenance.DefaultName(ref)
				}
				for _, im := range ims {
					b, err := provenance.NewBase(n, im, now)
					if err != nil {
						return fmt.Errorf("add %s: %w", ref, err)
					}
					bases = append(bases, b)
				}
			}
			added, err := st.Add(ctx, bases...)
			if err != nil {
				return err
			}
			if !g.Quiet {
				report.BasesApproved(g.Stdout, bases, added, st.Path())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "policy name for these bases (default: the repository path)")
	return cmd
}

func newBaseListCmd(g *Globals, openStore storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List approved bases (--format json: the export document)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			bs, err := st.List(cmd.Context())
			if err != nil {
				return err
			}
			if g.Format == report.FormatJSON {
				return report.BasesJSON(g.Stdout, bs)
			}
			return report.Bases(g.Stdout, bs)
		},
	}
}

func newBaseRemoveCmd(g *Globals, openStore storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME|REFERENCE|DIGEST|NAME@DIGEST...",
		Short: "Withdraw approval of bases",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			rm, err := st.Remove(cmd.Context(), args...)
			if err != nil {
				return err
			}
			if !g.Quiet {
				report.BasesRemoved(g.Stdout, rm)
			}
			return nil
		},
	}
}

func newBaseExportCmd(g *Globals, openStore storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "export [FILE]",
		Short: "Write the approved bases as sorted, stable JSON (stdout or FILE), to keep in git as policy",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if len(args) == 0 || args[0] == "-" {
				return st.Export(cmd.Context(), g.Stdout)
			}
			tmp, err := os.CreateTemp(filepath.Dir(args[0]), ".strata-bases-*.json")
			if err != nil {
				return fmt.Errorf("export bases: %w", err)
			}
			defer os.Remove(tmp.Name())
			if err := st.Export(cmd.Context(), tmp); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return fmt.Errorf("export bases: %w", err)
			}
			if err := os.Chmod(tmp.Name(), 0o644); err != nil {
				return fmt.Errorf("export bases: %w", err)
			}
			if err := os.Rename(tmp.Name(), args[0]); err != nil {
				return fmt.Errorf("export bases: %w", err)
			}
			return nil
		},
	}
}

func newBaseImportCmd(g *Globals, openStore storeOpener) *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Load approved bases from an export document (merge; --replace to make the store equal FILE)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = g.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import bases: %w", err)
				}
				defer f.Close()
				r = f
			}
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := st.Import(cmd.Context(), r, provenance.ImportOptions{Replace: replace})
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			if !g.Quiet {
				report.BasesImported(g.Stdout, args[0], n, st.Path())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "delete bases not in FILE")
	return cmd
}

func newBaseCheckCmd(g *Globals, openStore storeOpener) *cobra.Command {
	var (
		allTags, fetchSchema1, failStale bool
		catalogs                         []string
		jobs                             int
	)
	cmd := &cobra.Command{
		Use:   "check IMAGE...",
		Short: "Find the approved base each image is built on (manifest and config only; exit 1 if any has none)",
		Long: `For every IMAGE (and every platform of an index; --platform for one) find the longest approved base
whose layer chain (ChainID) is a prefix of the image's, reading only the manifest and the config, never
a layer. Reports the base, how many layers are the base's and how many the application's, and "stale"
when a newer approved image of the same name exists. Exit 1 when any image has no approved base
(or, with --fail-on-stale, is stale); exit 2 when an image cannot be read.

--all-tags checks every tag of each IMAGE's repository; --catalog REGISTRY every tag of every
repository of a registry (its /v2/_catalog).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 0 && len(catalogs) == 0 {
				return errors.New("name at least one IMAGE or --catalog REGISTRY")
			}
			want, err := g.platformFlag()
			if err != nil {
				return err
			}
			st, err := openStore(ctx)
			if err != nil {
				return err
			}
			ix, err := st.Index(ctx)
			st.Close()
			if err != nil {
				return err
			}
			if ix.Len() == 0 {
				return fmt.Errorf("no approved bases in %s: add some with `strata base add IMAGE` or `strata base import FILE`", st.Path())
			}
			open, client, err := g.imageOpener()
			if err != nil {
				return err
			}
			refs, err := source.Expand(ctx, client, args, source.ExpandOptions{AllTags: allTags, Catalogs: catalogs})
			if err != nil {
				return err
			}
			rs, err := provenance.CheckAll(ctx, refs, open, ix, provenance.CheckOptions{Concurrency: jobs, Platform: want, FetchSchema1: fetchSchema1, Log: g.Log})
			if err != nil {
				return err
			}
			if err := writeCheck(g, rs, ix.Len()); err != nil {
				return err
			}
			return checkExit(rs, failStale)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&allTags, "all-tags", false, "check every tag of each IMAGE's repository")
	f.StringArrayVar(&catalogs, "catalog", nil, "check every tag of every repository of REGISTRY (host[:port]); repeatable")
	f.BoolVar(&fetchSchema1, "fetch-schema1", false, "for schema 1 images (no diff_ids), download and decompress their layers")
	f.BoolVar(&failStale, "fail-on-stale", false, "exit 1 also when an image is on an outdated approved base")
	f.IntVar(&jobs, "jobs", 8, "images read concurrently")
	addListFlags(f, g)
	return cmd
}

func writeCheck(g *Globals, rs []provenance.Result, bases int) error {
	if g.Format == report.FormatJSON {
		return report.ProvenanceJSON(g.Stdout, rs, bases)
	}
	return report.ProvenanceTable(g.Stdout, rs, bases, g.Quiet)
}

// ErrNoApprovedBase is the error behind exit code 1 of base check.
var ErrNoApprovedBase = errors.New("images without an approved base")

func checkExit(rs []provenance.Result, failStale bool) error {
	s := provenance.Summarize(rs, 0)
	if s.Errors > 0 {
		var first string
		for _, r := range rs {
			if r.Status == provenance.StatusError {
				first = r.Reference + ": " + r.Error
				break
			}
		}
		return WithExitCode(ExitError, fmt.Errorf("%s could not be read (first: %s)", report.Plural(s.Errors, "image", "images"), first))
	}
	if s.NoBase > 0 {
		return WithExitCode(ExitFindings, fmt.Errorf("%w: %d of %d", ErrNoApprovedBase, s.NoBase, s.Checked))
	}
	if failStale && s.Stale > 0 {
		return WithExitCode(ExitFindings, fmt.Errorf("%d of %d images on an outdated approved base", s.Stale, s.Checked))
	}
	return nil
}
