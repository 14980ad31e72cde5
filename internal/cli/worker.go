package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/stratascan/strata/fleet/web"
	"github.com/stratascan/strata/report"
)

func init() { register(newWorkerCmd) }

func newWorkerCmd(g *Globals) *cobra.Command {
	var ff fleetFlags
	var listen string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Work the scan jobs of a shared queue (beside strata serve, on Postgres)",
		Long: `Run job workers only: no HTTP server. Every worker process given the same --db shares the queue of
strata serve, on this machine or another (with --db postgres://...): each distinct layer is scanned once by
one of them, and a job whose worker dies is run again by another after --rescue-after.

With --listen, the worker serves /healthz, /readyz and Prometheus /metrics (this process's scan latencies,
layers and bytes read, memory; plus the fleet-wide queue and store figures) on that address; /metrics needs
the API token strata serve printed, as its own /metrics does.

Give every worker the same --registry, --sweep and rules as strata serve (a config file's top-level keys
do that): the periodic sweep runs on whichever process River elects leader, and a layer is scanned only
by a worker whose ruleset matches the job's.

SIGINT or SIGTERM stops gracefully: no new job starts, jobs in flight get --stop-grace to finish, then are
cancelled and released for another worker.`,
		Example: `  strata worker --db postgres://strata@db.example/strata --workers 4
  strata worker --db postgres://strata@db.example/strata --registry registry.example --sweep 1h
  strata worker --db postgres://strata@db.example/strata --listen 0.0.0.0:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWorker(cmd.Context(), g, &ff, listen) },
	}
	withFormats(cmd, report.FormatTable)
	ff.add(cmd.Flags())
	cmd.Flags().StringVar(&listen, "listen", "", "serve /healthz, /readyz and /metrics on this address (default: no HTTP server)")
	addListFlags(cmd.Flags(), g)
	_ = cmd.MarkFlagFilename("rules", "toml")
	return cmd
}

func runWorker(ctx context.Context, g *Globals, ff *fleetFlags, listen string) error {
	if ff.workers == 0 {
		return fmt.Errorf("--workers 0: a worker process needs at least one")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := web.NewMetrics(reg)
	if err != nil {
		return err
	}
	st, svc, err := ff.open(ctx, g, metrics)
	if err != nil {
		return err
	}
	defer st.Close()
	var srv *http.Server
	if listen != "" {
		handler, err := web.NewWorkerHandler(web.Config{Store: st, Queue: svc, Logger: g.Log, Registerer: reg, Metrics: metrics})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", listen, err)
		}
		srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		go func() { _ = srv.Serve(ln) }()
		fmt.Fprintf(g.Stderr, "strata worker: metrics on http://%s/metrics\n", ln.Addr())
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr, "strata worker: working jobs (store %s, %d workers)\n", st.Dialect(), ff.workers)
	<-ctx.Done()
	stopCtx, cancel := ff.stopContext(ctx)
	defer cancel()
	if srv != nil {
		_ = srv.Shutdown(stopCtx)
	}
	return svc.Stop(stopCtx)
}
