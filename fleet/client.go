package fleet

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/stratascan/strata/fleet/store"
)

// queue is what the service uses of a River client, whatever its database
// driver (River's Client is generic over the driver's transaction type).
type queue interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	// countByState counts every job by state (River's driver query).
	countByState(ctx context.Context) (map[rivertype.JobState]int, error)
}

// riverQueue adapts a *river.Client of any driver to queue.
type riverQueue[TTx any] struct {
	*river.Client[TTx]
}

func (q riverQueue[TTx]) countByState(ctx context.Context) (map[rivertype.JobState]int, error) {
	return q.Driver().GetExecutor().JobCountByAllStates(ctx, &riverdriver.JobCountByAllStatesParams{Schema: q.Schema()})
}

// newQueue builds the River client on the store's database: riversqlite on
// its single-connection SQLite pool, riverpgxv5 on its pgx pool.
func newQueue(st *store.Store, cfg *river.Config) (queue, error) {
	switch st.Dialect() {
	case store.Postgres:
		c, err := river.NewClient[pgx.Tx](riverpgxv5.New(st.PgxPool()), cfg)
		if err != nil {
			return nil, fmt.Errorf("fleet: river client (postgres): %w", err)
		}
		return riverQueue[pgx.Tx]{c}, nil
	case store.SQLite:
		c, err := river.NewClient[*sql.Tx](riversqlite.New(st.SQLDB()), cfg)
		if err != nil {
			return nil, fmt.Errorf("fleet: river client (sqlite): %w", err)
		}
		return riverQueue[*sql.Tx]{c}, nil
	}
	return nil, fmt.Errorf("%w: store dialect %q has no River driver", ErrConfig, st.Dialect())
}
