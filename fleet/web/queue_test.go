package web_test

import (
	"context"
	"sync"
	"time"

	"github.com/stratascan/strata/image"
)

// enqueued is one call the handler made to its queue.
type enqueued struct {
	Registry, Repository, Tag string
	Manifest                  image.Digest
	Ref                       string
	At                        time.Time
}

// recordingQueue stands at the handler's boundary with the job engine
// (the fleet package, not imported here): it records what the handler
// asked for, and can fail on demand.
type recordingQueue struct {
	mu    sync.Mutex
	calls []enqueued
	err   error
	stats map[string]int
}

func (q *recordingQueue) EnqueueRef(ctx context.Context, ref string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.calls = append(q.calls, enqueued{Ref: ref, At: time.Now()})
	return nil
}

func (q *recordingQueue) EnqueuePush(ctx context.Context, registry, repo, tag string, manifest image.Digest) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.calls = append(q.calls, enqueued{Registry: registry, Repository: repo, Tag: tag, Manifest: manifest, At: time.Now()})
	return nil
}

func (q *recordingQueue) QueueStats(ctx context.Context) (map[string]int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return nil, q.err
	}
	return q.stats, nil
}

func (q *recordingQueue) Calls() []enqueued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]enqueued(nil), q.calls...)
}

func (q *recordingQueue) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.err = err
}
