package source

import (
	"context"
	"fmt"
	"strings"

	"github.com/stratascan/strata/registry"
)

// ExpandOptions says how Expand widens a list of references.
type ExpandOptions struct {
	// AllTags replaces each registry reference by every tag of its
	// repository; local references are kept as given.
	AllTags bool
	// Catalogs are registries ("host[:port]") whose every repository's
	// every tag is added (through /v2/_catalog).
	Catalogs []string
}

// Expand returns refs widened by opts, in order, without duplicates. Tags
// and catalogs are listed through client, so a run shares its connections
// and tokens.
func Expand(ctx context.Context, client *registry.Client, refs []string, opts ExpandOptions) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(r string) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	tagsOf := func(repo string) error {
		rp, err := client.Repo(ctx, repo)
		if err != nil {
			return err
		}
		tags, err := rp.Tags(ctx)
		if err != nil {
			return fmt.Errorf("list tags of %s: %w", repo, err)
		}
		for _, t := range tags {
			add(repo + ":" + t)
		}
		return nil
	}
	for _, a := range refs {
		r, err := ParseReference(a)
		if err != nil {
			return nil, err
		}
		if !opts.AllTags || r.Transport != TransportRegistry {
			add(a)
			continue
		}
		if err := tagsOf(RepositoryOf(r.Path)); err != nil {
			return nil, err
		}
	}
	for _, reg := range opts.Catalogs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		reg = strings.TrimSuffix(strings.TrimPrefix(reg, "docker://"), "/")
		repos, err := client.Catalog(ctx, reg)
		if err != nil {
			return nil, fmt.Errorf("catalog of %s: %w", reg, err)
		}
		for _, repo := range repos {
			if err := tagsOf(reg + "/" + repo); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// RepositoryOf strips a tag or digest from a registry reference, keeping
// the rest as written ("reg:5000/app:1@sha256:..." -> "reg:5000/app").
func RepositoryOf(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}
