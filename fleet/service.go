package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source"
)

// ErrBadReference: a reference given to EnqueueRef or EnqueuePush does not
// name an image in a registry.
var ErrBadReference = errors.New("fleet: not a registry image reference")

// Service runs the fleet's jobs on River: New builds it, Start starts its
// workers (when Config.Workers > 0), the Enqueue methods add work, Stop
// stops gracefully. Its methods are safe for concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	q       queue
	reg     *registry.Client
	ruleset string

	mu      sync.Mutex
	started bool
}

// New builds a Service on cfg.Store's database. No job runs before Start.
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.Store.Ping(ctx); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	ro := cfg.Registry
	if ro.Logger == nil {
		ro.Logger = cfg.Logger
	}
	reg, err := registry.New(ro)
	if err != nil {
		return nil, fmt.Errorf("fleet: registry client: %w", err)
	}
	s := &Service{cfg: cfg, log: cfg.Logger, reg: reg, ruleset: cfg.Engine.RulesetHash()}
	rc := &river.Config{
		Logger:               cfg.Logger,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          cfg.MaxAttempts,
		FetchPollInterval:    cfg.PollInterval,
		Workers:              s.workers(),
	}
	if cfg.PollInterval < river.FetchCooldownDefault {
		rc.FetchCooldown = cfg.PollInterval
	}
	if cfg.Workers > 0 {
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
		if cfg.Sweep > 0 && len(cfg.Registries) > 0 {
			rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.Sweep),
				func() (river.JobArgs, *river.InsertOpts) { return s.sweepArgs("periodic"), nil },
				&river.PeriodicJobOpts{ID: KindSweep, RunOnStart: true})}
		}
	}
	if s.q, err = newQueue(cfg.Store, rc); err != nil {
		return nil, err
	}
	return s, nil
}

// workers registers one worker per job kind.
func (s *Service) workers() *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &sweepWorker{s: s})
	river.AddWorker(w, &enumerateWorker{s: s})
	river.AddWorker(w, &resolveWorker{s: s})
	river.AddWorker(w, &scanLayerWorker{s: s})
	river.AddWorker(w, &assembleWorker{s: s})
	return w
}

// observe records the duration of a job that succeeded under its phase
// (the kind without its "strata_" prefix).
func (s *Service) observe(kind string, start time.Time, err *error) {
	if s.cfg.Metrics != nil && *err == nil {
		s.cfg.Metrics.ObserveScan(strings.TrimPrefix(kind, "strata_"), time.Since(start))
	}
}

// Ruleset is the hash of the engine's ruleset, which keys layer results.
func (s *Service) Ruleset() string { return s.ruleset }

// Start starts the workers and the periodic sweep (none when Workers is 0)
// and, when the store last recorded another ruleset hash than the engine's,
// enqueues a sweep that rescans everything with the new rules. Jobs keep
// running when ctx is cancelled: Stop ends them.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil
	}
	if s.cfg.Workers > 0 {
		// River cancels running jobs at once when its start context ends;
		// Stop gives them StopGrace first.
		if err := s.q.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("fleet: start the job queue: %w", err)
		}
	}
	s.started = true
	return s.checkRuleset(ctx)
}

// checkRuleset enqueues a rescan of everything when the ruleset hash the
// store last recorded is not the engine's, then records the engine's (a
// process with no registry to sweep leaves the record as it is).
func (s *Service) checkRuleset(ctx context.Context) error {
	last, err := s.cfg.Store.Ruleset(ctx)
	if err != nil {
		return fmt.Errorf("fleet: read the recorded ruleset: %w", err)
	}
	if last == s.ruleset {
		return nil
	}
	if last != "" {
		if len(s.cfg.Registries) == 0 {
			// Left for a process that has registries to sweep to notice.
			s.log.Warn("fleet: the ruleset changed but no registry is configured here to rescan", "was", last, "now", s.ruleset)
			return nil
		}
		s.log.Info("fleet: the ruleset changed; rescanning every registry", "was", last, "now", s.ruleset)
		if err := s.enqueueSweep(ctx, "ruleset"); err != nil {
			return err
		}
	}
	if err := s.cfg.Store.SetRuleset(ctx, s.ruleset); err != nil {
		return fmt.Errorf("fleet: record the ruleset: %w", err)
	}
	return nil
}

// Stop stops the workers: no new job starts, jobs in flight get
// Config.StopGrace to finish, then their contexts are cancelled and River
// releases them for a retry by any worker. ctx bounds the whole stop; pass
// one that is still live (not the one a signal cancelled).
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return nil
	}
	s.started = false
	if s.cfg.Workers == 0 {
		return nil
	}
	grace, cancel := context.WithTimeout(ctx, s.cfg.StopGrace)
	defer cancel()
	err := s.q.Stop(grace)
	if err == nil {
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return fmt.Errorf("fleet: stop the job queue: %w", err)
	}
	s.log.Warn("fleet: jobs still running after the stop grace; cancelling them (they will be retried)", "grace", s.cfg.StopGrace)
	if err := s.q.StopAndCancel(ctx); err != nil {
		return fmt.Errorf("fleet: cancel the running jobs: %w", err)
	}
	return nil
}

// EnqueueRef enqueues a scan of one registry image reference
// ("host/repo:tag", "host/repo@sha256:...").
func (s *Service) EnqueueRef(ctx context.Context, ref string) error {
	if tr, _, ok := strings.Cut(ref, ":"); ok && slices.Contains(source.Transports, tr) {
		return fmt.Errorf("%w: %q is a local %s reference; the fleet scans registries", ErrBadReference, ref, tr)
	}
	repo, id, err := registry.ParseReference(ref, s.cfg.Registry.Insecure)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadReference, err)
	}
	host, path, ok := strings.Cut(repo, "/")
	if !ok {
		return fmt.Errorf("%w: %q", ErrBadReference, ref)
	}
	args := ResolveArgs{Registry: host, Repository: path}
	if d, err := image.ParseDigest(id); err == nil {
		args.Manifest = d
	} else {
		args.Tag = id
	}
	return s.insertFirst(ctx, args)
}

// EnqueuePush enqueues a scan of a manifest pushed to registry/repo (as a
// registry's notification reports it); tag may be empty, manifest too when
// the tag is given.
func (s *Service) EnqueuePush(ctx context.Context, registryHost, repo, tag string, manifest image.Digest) error {
	if registryHost == "" || repo == "" || (tag == "" && manifest == "") {
		return fmt.Errorf("%w: push of %s/%s needs a tag or a manifest digest", ErrBadReference, registryHost, repo)
	}
	if manifest != "" {
		if _, err := image.ParseDigest(string(manifest)); err != nil {
			return fmt.Errorf("%w: %v", ErrBadReference, err)
		}
	}
	return s.insertFirst(ctx, ResolveArgs{Registry: registryHost, Repository: repo, Tag: tag, Manifest: manifest})
}

// EnqueueSweep enqueues a sweep of every configured registry now.
func (s *Service) EnqueueSweep(ctx context.Context) error { return s.enqueueSweep(ctx, "request") }

func (s *Service) enqueueSweep(ctx context.Context, reason string) error {
	return s.insert(ctx, s.sweepArgs(reason))
}

func (s *Service) sweepArgs(reason string) SweepArgs {
	return SweepArgs{Registries: s.cfg.Registries, Reason: reason}
}

// insert adds one job (its kind's InsertOpts apply).
func (s *Service) insert(ctx context.Context, args river.JobArgs) error {
	if _, err := s.q.Insert(ctx, args, nil); err != nil {
		return fmt.Errorf("fleet: enqueue %s: %w", args.Kind(), err)
	}
	return nil
}

// insertFirst adds a resolve job asked for by a push or by hand, ahead of
// those a sweep enqueued.
func (s *Service) insertFirst(ctx context.Context, args ResolveArgs) error {
	if _, err := s.q.Insert(ctx, args, &river.InsertOpts{Priority: priorityPush}); err != nil {
		return fmt.Errorf("fleet: enqueue %s: %w", args.Kind(), err)
	}
	return nil
}

// insertMany adds jobs in one transaction.
func (s *Service) insertMany(ctx context.Context, args []river.JobArgs) error {
	if len(args) == 0 {
		return nil
	}
	ps := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		ps[i] = river.InsertManyParams{Args: a}
	}
	if _, err := s.q.InsertMany(ctx, ps); err != nil {
		return fmt.Errorf("fleet: enqueue %d %s jobs: %w", len(args), args[0].Kind(), err)
	}
	return nil
}

// QueueStats counts River's jobs by state ("available", "running",
// "completed", ...), every state present even at 0.
func (s *Service) QueueStats(ctx context.Context) (map[string]int, error) {
	byState, err := s.q.countByState(ctx)
	if err != nil {
		return nil, fmt.Errorf("fleet: count jobs: %w", err)
	}
	out := map[string]int{}
	for st, n := range byState {
		out[string(st)] = n
	}
	return out, nil
}
