package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/stratascan/strata/scan"
)

type recordArgs struct{ N int }

func (recordArgs) Kind() string { return "strata_store_test_record" }

type recordWorker struct {
	river.WorkerDefaults[recordArgs]
	s    *Store
	done atomic.Int64
}

func (w *recordWorker) Work(ctx context.Context, job *river.Job[recordArgs]) error {
	r := rec("reg.example", "river", fmt.Sprint("m", job.Args.N), fmt.Sprint("t", job.Args.N))
	f := finding(fmt.Sprintf("AKIARIVER%011d", job.Args.N), "aws", "high", "/x", 1)
	if err := w.s.RecordImage(ctx, r, []scan.Finding{f}, time.Now()); err != nil {
		return err
	}
	w.done.Add(1)
	return nil
}

// TestRiverOnSQLite: a River client on SQLDB (riversqlite, one
// connection) works jobs that write to the store's own pool on the same
// file at the same time: the two pools take turns, no job fails with
// SQLITE_BUSY.
func TestRiverOnSQLite(t *testing.T) {
	const jobs = 30
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := open(t, "sqlite://"+t.TempDir()+"/r.db")
	w := &recordWorker{s: s}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := river.NewClient(riversqlite.New(s.SQLDB()), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(context.WithoutCancel(ctx))
	events, unsub := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer unsub()
	for i := 0; i < jobs; i++ {
		if _, err := client.Insert(ctx, recordArgs{N: i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for seen := 0; seen < jobs; seen++ {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				t.Fatalf("job %d %s: %v", ev.Job.ID, ev.Kind, ev.Job.Errors)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d jobs done", seen, jobs)
		}
	}
	if got := len(mustFindings(t, s, Filter{Limit: MaxLimit})); got != jobs || w.done.Load() != jobs {
		t.Errorf("%d findings, %d jobs done; want %d", got, w.done.Load(), jobs)
	}
}
