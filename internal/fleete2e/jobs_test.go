package fleete2e_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/stratascan/strata/fleet/store"
)

// jobs reads River's job table of the store's database through River's
// own JobList (an insert-only client: it works no job).
type jobs struct {
	t    testing.TB
	list func(context.Context, *river.JobListParams) (*river.JobListResult, error)
}

func newJobs(t testing.TB, st *store.Store) *jobs {
	t.Helper()
	j := &jobs{t: t}
	switch st.Dialect() {
	case store.Postgres:
		c, err := river.NewClient(riverpgxv5.New(st.PgxPool()), &river.Config{})
		if err != nil {
			t.Fatalf("river client: %v", err)
		}
		j.list = c.JobList
	default:
		c, err := river.NewClient(riversqlite.New(st.SQLDB()), &river.Config{})
		if err != nil {
			t.Fatalf("river client: %v", err)
		}
		j.list = c.JobList
	}
	return j
}

// find returns the latest job of kind whose arguments mention key (running
// only, or in any state), nil when there is none.
func (j *jobs) find(ctx context.Context, kind, key string, running bool) *rivertype.JobRow {
	j.t.Helper()
	p := river.NewJobListParams().Kinds(kind).First(10000)
	if running {
		p = p.States(rivertype.JobStateRunning)
	} else {
		p = p.States(rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted, rivertype.JobStateDiscarded,
			rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled)
	}
	res, err := j.list(ctx, p)
	if err != nil {
		j.t.Fatalf("river JobList %s: %v", kind, err)
	}
	var found *rivertype.JobRow
	for _, row := range res.Jobs {
		if bytes.Contains(row.EncodedArgs, []byte(key)) && (found == nil || row.ID > found.ID) {
			found = row
		}
	}
	return found
}

// lost returns the jobs River gave up on (discarded after their last
// attempt, or cancelled).
func (j *jobs) lost(ctx context.Context) []*rivertype.JobRow {
	j.t.Helper()
	res, err := j.list(ctx, river.NewJobListParams().States(rivertype.JobStateDiscarded, rivertype.JobStateCancelled).First(1000))
	if err != nil {
		j.t.Fatalf("river JobList: %v", err)
	}
	return res.Jobs
}
