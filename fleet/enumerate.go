package fleet

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// sweepWorker enumerates every registry of its args.
type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	s *Service
}

func (w *sweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) (err error) {
	defer w.s.observe(KindSweep, time.Now(), &err)
	w.s.log.Info("fleet: sweep", "registries", job.Args.Registries, "reason", job.Args.Reason)
	args := make([]river.JobArgs, 0, len(job.Args.Registries))
	for _, r := range job.Args.Registries {
		host, prefix := splitRegistry(r)
		args = append(args, EnumerateArgs{Registry: host, Prefix: prefix})
	}
	return w.s.insertMany(ctx, args)
}

// enumerateWorker lists a registry's catalog, or one repository's tags.
type enumerateWorker struct {
	river.WorkerDefaults[EnumerateArgs]
	s *Service
}

func (w *enumerateWorker) Work(ctx context.Context, job *river.Job[EnumerateArgs]) (err error) {
	defer w.s.observe(KindEnumerate, time.Now(), &err)
	a := job.Args
	if a.Repository == "" {
		return w.catalog(ctx, a)
	}
	return w.repository(ctx, a)
}

// catalog enqueues one enumeration per repository of the registry under
// the prefix, and per repository the store knows there that the catalog
// no longer lists (it finds no tag, which resolves its findings).
func (w *enumerateWorker) catalog(ctx context.Context, a EnumerateArgs) error {
	repos, err := w.s.reg.Catalog(ctx, a.Registry)
	if err != nil {
		return fmt.Errorf("catalog of %s: %w", a.Registry, err)
	}
	known, err := w.s.cfg.Store.Repositories(ctx, a.Registry)
	if err != nil {
		return fmt.Errorf("repositories of %s in the store: %w", a.Registry, err)
	}
	listed := make(map[string]bool, len(repos))
	for _, r := range repos {
		listed[r] = true
	}
	for _, r := range known {
		if !listed[r] {
			repos = append(repos, r)
		}
	}
	var args []river.JobArgs
	for _, r := range repos {
		if a.Prefix == "" || r == a.Prefix || strings.HasPrefix(r, strings.TrimSuffix(a.Prefix, "/")+"/") {
			args = append(args, EnumerateArgs{Registry: a.Registry, Prefix: a.Prefix, Repository: r})
		}
	}
	w.s.log.Debug("fleet: catalog", "registry", a.Registry, "prefix", a.Prefix, "repositories", len(args))
	return w.s.insertMany(ctx, args)
}

// referrersTag matches tags that hold referrers rather than images: the
// OCI fallback index "sha256-<hex>" and cosign's "sha256-<hex>.sig/.att/
// .sbom". The images they refer to are resolved with their referrers.
var referrersTag = regexp.MustCompile(`^(sha256-[a-f0-9]{64}|sha512-[a-f0-9]{128})(\.(sig|att|sbom))?$`)

// repository records the repository's tags and the manifests they name
// (tags that vanished resolve their findings) and enqueues a resolve job
// per image tag.
func (w *enumerateWorker) repository(ctx context.Context, a EnumerateArgs) error {
	name := a.Registry + "/" + a.Repository
	repo, err := w.s.reg.Repo(ctx, name)
	if err != nil {
		return err
	}
	tags, err := repo.Tags(ctx)
	if err != nil && !errors.Is(err, content.ErrNotFound) {
		return err
	}
	digests := make(map[string]image.Digest, len(tags))
	var args []river.JobArgs
	for _, t := range tags {
		d, err := repo.HeadManifest(ctx, t)
		if errors.Is(err, content.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return fmt.Errorf("resolve %s:%s: %w", name, t, err)
		}
		digests[t] = d.Digest
		if !referrersTag.MatchString(t) {
			args = append(args, ResolveArgs{Registry: a.Registry, Repository: a.Repository, Tag: t, Manifest: d.Digest})
		}
	}
	if err := w.s.cfg.Store.SyncTags(ctx, a.Registry, a.Repository, digests, time.Now()); err != nil {
		return fmt.Errorf("record the tags of %s: %w", name, err)
	}
	w.s.log.Debug("fleet: repository", "repository", name, "tags", len(tags))
	return w.s.insertMany(ctx, args)
}
