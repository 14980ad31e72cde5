package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stratascan/strata/fleet"
	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/fleet/web"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/secret"
)

func init() { register(newServeCmd) }

// fleetFlags are the flags strata serve and strata worker share.
type fleetFlags struct {
	db          string
	registries  []string
	sweep       time.Duration
	workers     int
	rules       []string
	patterns    []string
	jobTimeout  time.Duration
	rescueAfter time.Duration
	stopGrace   time.Duration
}

// defaultWorkers is --workers when not given: a fixed number, so that help
// and man pages do not depend on the machine they are generated on.
const defaultWorkers = 2

func (ff *fleetFlags) add(f *pflag.FlagSet) {
	f.StringVar(&ff.db, "db", "", "findings store and job queue: a SQLite file path or sqlite:///PATH (default: strata.db in the user data dir), or postgres://...")
	f.StringArrayVar(&ff.registries, "registry", nil, "registry host[:port], or host[:port]/prefix, to sweep (repeatable)")
	f.DurationVar(&ff.sweep, "sweep", time.Hour, "enumerate every --registry on start and this often (0: never, but after a ruleset change)")
	f.IntVar(&ff.workers, "workers", defaultWorkers, "jobs worked at once by this process")
	f.StringArrayVar(&ff.rules, "rules", nil, "extra rules file in gitleaks TOML format (repeatable); a ruleset change rescans everything")
	f.StringArrayVar(&ff.patterns, "pattern", nil, "extra one-off rule as a regular expression (repeatable)")
	f.DurationVar(&ff.jobTimeout, "job-timeout", fleet.DefaultJobTimeout, "time one job (a layer scan, a registry listing) may take")
	f.DurationVar(&ff.rescueAfter, "rescue-after", 0, "time after which a job whose worker died runs again elsewhere (default: --job-timeout + 15m)")
	f.DurationVar(&ff.stopGrace, "stop-grace", fleet.DefaultStopGrace, "on SIGINT/SIGTERM, time jobs in flight get to finish before they are cancelled and released")
}

// open opens the store and builds the fleet service from the flags; m
// receives the workers' measurements (nil: none).
func (ff *fleetFlags) open(ctx context.Context, g *Globals, m fleet.Observer) (*store.Store, *fleet.Service, error) {
	if ff.workers < 0 {
		return nil, nil, fmt.Errorf("--workers %d: want 0 or more", ff.workers)
	}
	eng, err := secret.New(secret.Options{RulesFiles: ff.rules, Patterns: ff.patterns, Logger: g.Log})
	if err != nil {
		return nil, nil, err
	}
	ro, err := g.registryOptions()
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, ff.db, g.Log)
	if err != nil {
		return nil, nil, err
	}
	svc, err := fleet.New(ctx, fleet.Config{Store: st, Engine: eng, Logger: g.Log, Registries: ff.registries, Sweep: ff.sweep,
		Workers: ff.workers, Registry: ro, JobTimeout: ff.jobTimeout, RescueAfter: ff.rescueAfter, StopGrace: ff.stopGrace, Metrics: m})
	if err != nil {
		st.Close()
		if errors.Is(err, fleet.ErrConfig) && ff.rescueAfter != 0 {
			err = fmt.Errorf("%w (check --rescue-after and --job-timeout)", err)
		}
		return nil, nil, err
	}
	return st, svc, nil
}

// stopContext bounds a graceful stop after a signal cancelled ctx: the
// jobs' grace plus time to release them.
func (ff *fleetFlags) stopContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), ff.stopGrace+30*time.Second)
}

type serveFlags struct {
	fleet         fleetFlags
	listen        string
	webhookSecret string
}

func newServeCmd(g *Globals) *cobra.Command {
	var sf serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Scan every image of your registries continuously: job workers, push webhook, JSON API and dashboard in one process",
		Long: `Run strata as a service. Every --registry is enumerated on start and every --sweep (catalog, every tag,
every manifest of every index, BuildKit caches, attestations and referrers); a registry's push notifications
posted to /hook enqueue the pushed manifest at once; POST /api/v1/scan enqueues a reference by hand. Each
distinct layer is scanned once per ruleset, whatever number of images share it; a ruleset change (--rules,
--pattern, a new strata) rescans everything. Findings, with first seen, last seen and resolved times, are
kept in the store (--db) and served as JSON (/api/v1/...) and HTML pages.

The store and the job queue share one database: by default a SQLite file in the user data dir, nothing else
to install; with --db postgres://... any number of strata worker processes on other machines share the queue.

On first start a bearer token for the API and the pages is generated and printed once on standard error;
only its sha256 is stored. The webhook checks the secret read from --webhook-secret-file instead
(Authorization: Bearer SECRET in the registry's notifications endpoint headers).

SIGINT or SIGTERM stops gracefully: no new job starts, jobs in flight get --stop-grace to finish, then are
cancelled and released for another worker.`,
		Example: `  strata serve --registry registry.example --sweep 1h
  strata serve --registry registry.example/team --db postgres://strata@db.example/strata --webhook-secret-file /etc/strata/webhook-secret --listen 0.0.0.0:8080 --workers 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), g, &sf) },
	}
	withFormats(cmd, report.FormatTable)
	f := cmd.Flags()
	sf.fleet.add(f)
	f.StringVar(&sf.listen, "listen", "127.0.0.1:8080", "address of the HTTP server (webhook, API, pages, /healthz, /metrics)")
	f.StringVar(&sf.webhookSecret, "webhook-secret-file", "", "file holding the shared secret registry notifications must send (without it /hook refuses every request)")
	addListFlags(f, g)
	_ = cmd.MarkFlagFilename("webhook-secret-file")
	_ = cmd.MarkFlagFilename("rules", "toml")
	return cmd
}

// maxSecretFileBytes bounds the webhook secret file read.
const maxSecretFileBytes = 64 << 10

func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--webhook-secret-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("--webhook-secret-file: %w", err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("--webhook-secret-file %s: larger than %d bytes; it should hold one secret", path, maxSecretFileBytes)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--webhook-secret-file %s is empty", path)
	}
	return s, nil
}

func runServe(ctx context.Context, g *Globals, sf *serveFlags) error {
	secretValue, err := readSecretFile(sf.webhookSecret)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	metrics, err := web.NewMetrics(reg)
	if err != nil {
		return err
	}
	st, svc, err := sf.fleet.open(ctx, g, metrics)
	if err != nil {
		return err
	}
	defer st.Close()
	handler, err := web.NewHandler(web.Config{Store: st, Queue: svc, WebhookSecret: secretValue, Logger: g.Log, Registerer: reg, Metrics: metrics})
	if err != nil {
		return err
	}
	token, created, err := st.EnsureToken(ctx)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(g.Stderr, "strata serve: API token (shown once, only its hash is kept): %s\n", token)
	}
	ln, err := net.Listen("tcp", sf.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", sf.listen, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if err := svc.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(g.Stderr, "strata serve: listening on http://%s (store %s, %d workers)\n", ln.Addr(), st.Dialect(), sf.fleet.workers)
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	stopCtx, cancel := sf.fleet.stopContext(ctx)
	defer cancel()
	if serr := srv.Shutdown(stopCtx); serr != nil && err == nil {
		err = serr
	}
	if serr := svc.Stop(stopCtx); serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
