package purge

import (
	"context"
	"fmt"
	"sort"

	"github.com/stratascan/strata/image"
)

// Use is where one digest appears in one repository.
type Use struct {
	Digest     image.Digest `json:"digest"`
	Repository string       `json:"repository"`
	// Present is true when the repository serves the digest as a blob
	// (HEAD 200), referenced or not (a mounted blob survives a delete
	// elsewhere).
	Present bool `json:"present"`
	// Manifests reference the digest (as config, layer or index entry), or
	// are the digest.
	Manifests []image.Digest `json:"manifests"`
	// Tags reach one of Manifests.
	Tags []string `json:"tags"`
}

// Opener opens a repository by name ("host/path").
type Opener func(ctx context.Context, repo string) (Repository, error)

// Where inventories each repository and reports, for every digest, each
// repository that serves or references it. Repositories where a digest is
// neither present nor referenced are left out.
func Where(ctx context.Context, open Opener, repos []string, digests []image.Digest, opts InventoryOptions) ([]Use, error) {
	var out []Use
	for _, name := range repos {
		repo, err := open(ctx, name)
		if err != nil {
			return out, fmt.Errorf("where: opening %s: %w", name, err)
		}
		inv, err := Take(ctx, repo, name, opts)
		if err != nil {
			return out, fmt.Errorf("where: %w", err)
		}
		g := newGraph(inv)
		reaching := g.tagsReaching(sortedKeys(inv.Tags))
		for _, d := range digests {
			u := Use{Digest: d, Repository: name, Manifests: []image.Digest{}, Tags: []string{}}
			if _, err := repo.HeadBlob(ctx, d); err == nil {
				u.Present = true
			} else if !isNotFound(err) {
				return out, fmt.Errorf("where: HEAD blob %s in %s: %w", d, name, err)
			}
			tags := set[string]{}
			for _, md := range sortedDigests(inv.Manifests) {
				m := inv.Manifests[md]
				hit := md == d
				for _, b := range m.Blobs {
					hit = hit || b.Digest == d
				}
				if !hit {
					continue
				}
				u.Manifests = append(u.Manifests, md)
				for _, t := range reaching[md] {
					tags.add(t)
				}
			}
			u.Tags = nonNil(sortedKeys(tags))
			if u.Present || len(u.Manifests) > 0 {
				out = append(out, u)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Digest != out[j].Digest {
			return out[i].Digest < out[j].Digest
		}
		return out[i].Repository < out[j].Repository
	})
	return out, nil
}
