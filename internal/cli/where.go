package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/report"
)

func init() { register(newWhereCmd) }

func newWhereCmd(g *Globals) *cobra.Command {
	var repos []string
	var catalog string
	cmd := &cobra.Command{
		Use:   "where DIGEST... (--repo HOST/REPO... | --catalog HOST)",
		Short: "Find every repository, tag and manifest that references a blob (size a purge's blast radius)",
		Long: `For each DIGEST (a layer, config or manifest), list every repository that serves it as a blob
(HEAD 200: mounted blobs survive a per-repository delete) or references it from a manifest, with the
tags that reach those manifests. --catalog lists the registry's repositories through /v2/_catalog
(many hosted registries disable it; name repositories with --repo instead).`,
		Example: `  strata where sha256:4f1c... --repo registry.example/acme/search-indexer --repo registry.example/acme/api
  strata where sha256:4f1c... --catalog registry.example`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var ds []image.Digest
			for _, a := range args {
				d, err := image.ParseDigest(a)
				if err != nil {
					return WithExitCode(ExitError, err)
				}
				ds = append(ds, d)
			}
			if (len(repos) == 0) == (catalog == "") {
				return WithExitCode(ExitError, errors.New("give either --repo (one or more) or --catalog"))
			}
			client, err := g.registryClient()
			if err != nil {
				return WithExitCode(ExitError, err)
			}
			names := repos
			if catalog != "" {
				list, err := client.Catalog(ctx, catalog)
				if err != nil {
					return WithExitCode(ExitError, fmt.Errorf("catalog of %s: %w (name repositories with --repo instead)", catalog, err))
				}
				host := strings.TrimSuffix(strings.TrimPrefix(catalog, "docker://"), "/")
				for _, r := range list {
					names = append(names, host+"/"+r)
				}
			}
			open := func(ctx context.Context, name string) (purge.Repository, error) { return client.Repo(ctx, name) }
			uses, err := purge.Where(ctx, open, names, ds, purge.InventoryOptions{Logger: g.Log})
			if err != nil {
				return WithExitCode(ExitError, err)
			}
			if g.Format == report.FormatJSON {
				if uses == nil {
					uses = []purge.Use{}
				}
				return report.JSON(g.Stdout, uses)
			}
			return report.PurgeWhere(g.Stdout, ds, uses)
		},
	}
	cmd.Flags().StringSliceVar(&repos, "repo", nil, "repository to search, host/path (repeatable)")
	cmd.Flags().StringVar(&catalog, "catalog", "", "search every repository of this registry (host[:port]) via /v2/_catalog")
	addListFlags(cmd.Flags(), g)
	cmd.MarkFlagsMutuallyExclusive("repo", "catalog")
	return cmd
}
