package store

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/scan"
)

// TestConcurrentRecord: several goroutines on two Stores sharing one
// database record images into the same registries and repositories at
// once (same repositories, shared secrets, overlapping tags): nothing is
// lost and nothing is duplicated.
func TestConcurrentRecord(t *testing.T) {
	const (
		workers = 6
		images  = 8 // per worker
	)
	forEach(t, func(t *testing.T, s1 *Store, dsn string) {
		stores := []*Store{s1, open(t, dsn)}
		var wg sync.WaitGroup
		errs := make(chan error, workers*images)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				s := stores[w%len(stores)]
				for i := 0; i < images; i++ {
					repo := fmt.Sprintf("repo%d", i%3)
					r := rec("reg.example", repo, fmt.Sprintf("w%d-i%d", w, i), fmt.Sprintf("w%d-i%d", w, i), "shared")
					fs := []scan.Finding{
						finding("AKIASHAREDSHAREDSHAR", "aws", "high", "/shared", 0),
						finding(fmt.Sprintf("ghp_own%02d%02dxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", w, i), "github", "high", "/own", 1),
					}
					if err := s.RecordImage(context.Background(), r, fs, t0.Add(time.Duration(i)*time.Second)); err != nil {
						errs <- err
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		rows := mustFindings(t, s1, Filter{Limit: MaxLimit})
		if len(rows) != 2*workers*images {
			t.Fatalf("%d findings, want %d", len(rows), 2*workers*images)
		}
		shared, err := s1.Fingerprint(context.Background(), fingerprint("AKIASHAREDSHAREDSHAR"))
		if err != nil || len(shared) != workers*images {
			t.Fatalf("shared secret in %d images (%v), want %d", len(shared), err, workers*images)
		}
		o, err := s1.Overview(context.Background(), t0)
		if err != nil {
			t.Fatal(err)
		}
		if o.Registries != 1 || o.Repositories != 3 || o.Images != workers*images {
			t.Errorf("overview counts %d registries %d repositories %d images", o.Registries, o.Repositories, o.Images)
		}
	})
}

// TestResolveRule is a property test of the resolve rule: after any
// sequence of random tag moves, deletions, re-records and syncs, a finding
// is open iff its manifest's latest scan reports it and some tag of the
// repository references the manifest.
func TestResolveRule(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		seed := time.Now().UnixNano()
		rng := rand.New(rand.NewSource(seed))
		t.Logf("seed %d", seed)
		const repo = "prop"
		manifests := []string{"m0", "m1", "m2", "m3"}
		tagNames := []string{"a", "b", "c"}
		tags := map[string]image.Digest{} // the model: tag -> digest
		reported := map[string]bool{}     // manifest -> reports its finding
		at := t0
		record := func(m string, report bool, tag string) {
			var fs []scan.Finding
			if report {
				fs = []scan.Finding{finding("AKIA"+strings.Repeat(m, 8), "aws", "high", "/"+m, 1)}
			}
			r := rec("reg.example", repo, m)
			if tag != "" {
				r.Tags = []string{tag}
				tags[tag] = r.Manifest
			}
			reported[m] = report
			mustRecord(t, s, r, fs, at)
		}
		for _, m := range manifests {
			record(m, true, "")
		}
		for step := 0; step < 40; step++ {
			at = at.Add(time.Minute)
			switch op := rng.Intn(4); op {
			case 0: // the sweep's view: random tags to random manifests
				next := map[string]image.Digest{}
				for _, tg := range tagNames {
					if rng.Intn(3) > 0 {
						next[tg] = digest(manifests[rng.Intn(len(manifests))])
					}
				}
				if err := s.SyncTags(ctx, "reg.example", repo, next, at); err != nil {
					t.Fatal(err)
				}
				tags = next
			case 1: // a push: re-record a manifest with a tag
				record(manifests[rng.Intn(len(manifests))], rng.Intn(4) > 0, tagNames[rng.Intn(len(tagNames))])
			case 2: // a rescan without tags (the finding may disappear)
				record(manifests[rng.Intn(len(manifests))], rng.Intn(3) > 0, "")
			case 3: // a tag points at a manifest never scanned
				tg := tagNames[rng.Intn(len(tagNames))]
				tags[tg] = digest("unscanned")
				if err := s.SyncTags(ctx, "reg.example", repo, tags, at); err != nil {
					t.Fatal(err)
				}
			}
			rows := mustFindings(t, s, Filter{Limit: MaxLimit})
			for _, row := range rows {
				m := ""
				for _, mm := range manifests {
					if digest(mm) == row.Manifest {
						m = mm
					}
				}
				tagged := false
				var want []string
				for tg, d := range tags {
					if d == row.Manifest {
						tagged = true
						want = append(want, tg)
					}
				}
				sort.Strings(want)
				if open := reported[m] && tagged; row.Open() != open {
					t.Fatalf("seed %d step %d: %s open %v, want %v (reported %v, tags %v)", seed, step, m, row.Open(), open, reported[m], tags)
				}
				if strings.Join(row.Tags, ",") != strings.Join(want, ",") {
					t.Fatalf("seed %d step %d: %s tags %v, want %v", seed, step, m, row.Tags, want)
				}
			}
		}
	})
}
