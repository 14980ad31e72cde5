package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/report"
)

func init() { register(newWorkerCmd) }

func newWorkerCmd(g *Globals) *cobra.Command {
	var ff fleetFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Work the scan jobs of a shared queue (beside strata serve, on Postgres)",
		Long: `Run job workers only: no HTTP server. Every worker process given the same --db shares the queue of
strata serve, on this machine or another (with --db postgres://...): each distinct layer is scanned once by
one of them, and a job whose worker dies is run again by another after --rescue-after.

Give every worker the same --registry, --sweep and rules as strata serve (a config file's top-level keys
do that): the periodic sweep runs on whichever process River elects leader, and a layer is scanned only
by a worker whose ruleset matches the job's.

SIGINT or SIGTERM stops gracefully: no new job starts, jobs in flight get --stop-grace to finish, then are
cancelled and released for another worker.`,
		Example: `  strata worker --db postgres://strata@db.example/strata --workers 4
  strata worker --db postgres://strata@db.example/strata --registry registry.example --sweep 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWorker(cmd.Context(), g, &ff) },
	}
	withFormats(cmd, report.FormatTable)
	ff.add(cmd.Flags())
	addListFlags(cmd.Flags(), g)
	_ = cmd.MarkFlagFilename("rules", "toml")
	return cmd
}

func runWorker(ctx context.Context, g *Globals, ff *fleetFlags) error {
	if ff.workers == 0 {
		return fmt.Errorf("--workers 0: a worker process needs at least one")
	}
	st, svc, err := ff.open(ctx, g, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := svc.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr, "strata worker: working jobs (store %s, %d workers)\n", st.Dialect(), ff.workers)
	<-ctx.Done()
	stopCtx, cancel := ff.stopContext(ctx)
	defer cancel()
	return svc.Stop(stopCtx)
}
