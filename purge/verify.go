package purge

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/stratascan/strata/image"
)

// Verdicts.
const (
	// VerdictClean: every planned object answers 404, every survivor is whole.
	VerdictClean = "clean"
	// VerdictPendingGC: manifests are gone but blob deletes were refused:
	// blobs stay pullable by digest until the operator's garbage collection.
	VerdictPendingGC = "pending-gc"
	// VerdictRestartNeeded: the registry still answers 200 for deleted blobs
	// with a short or wrong body: a stale blob descriptor cache.
	VerdictRestartNeeded = "restart-needed"
	// VerdictNotPurged: deletes were refused; nothing changed.
	VerdictNotPurged = "not-purged"
	// VerdictFailed: something deleted is still served, or a survivor broke.
	VerdictFailed = "failed"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Attempts per deleted object before it counts as still served
	// (asynchronous deletes, replicas); default 5.
	Attempts int
	// Backoff is the first wait between attempts, doubled each time;
	// default 100ms.
	Backoff time.Duration
	// Concurrency bounds parallel requests (default 8).
	Concurrency int
	Logger      *slog.Logger
}

// Report is the outcome of Verify.
type Report struct {
	Verdict string `json:"verdict"`
	// Gone counts deleted objects confirmed 404 to HEAD and GET.
	Gone int `json:"gone"`
	// Survivors counts surviving tags checked whole.
	Survivors int `json:"survivors"`
	// Problems lists every failed check.
	Problems []string `json:"problems"`
	// StillServed lists deleted objects the registry still serves.
	StillServed []string `json:"stillServed"`
	// Requests counts the requests Verify made.
	Requests int `json:"requests"`
}

// Verify checks a purge: every deleted tag, manifest and blob answers 404 to
// HEAD and GET (blob bodies are hashed: a 200 with a short or wrong body is a
// stale descriptor cache), with retries and backoff; every surviving tag
// still resolves to its planned digest and its manifests, configs and layers
// are retrievable (HEAD for layers, a hashed GET of each config).
func Verify(ctx context.Context, repo Repository, p *Plan, res *Result, opts VerifyOptions) (*Report, error) {
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 100 * time.Millisecond
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	v := &verifier{repo: repo, opts: opts, sem: make(chan struct{}, opts.Concurrency)}
	rep := &Report{Problems: []string{}, StillServed: []string{}}
	if res != nil && res.ManifestDeleteUnsupported {
		rep.Verdict = VerdictNotPurged
		rep.Problems = append(rep.Problems, "the registry refused deletes; nothing was deleted")
		return rep, nil
	}
	skipped := map[image.Digest]bool{}
	changed := map[string]bool{}
	if res != nil {
		for _, s := range res.Steps {
			if s.Op == "delete-blob" && (s.Outcome == OutcomeSkipped || s.Outcome == OutcomeUnsupported) {
				skipped[s.Digest] = true
			}
			if s.Op == "delete-tag" && s.Outcome == OutcomeChanged {
				changed[s.Ref] = true
			}
		}
	}
	var mu sync.Mutex
	problem := func(served bool, format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		msg := fmt.Sprintf(format, a...)
		rep.Problems = append(rep.Problems, msg)
		if served {
			rep.StillServed = append(rep.StillServed, msg)
		}
	}
	staleN, pendingN := 0, 0
	var wg sync.WaitGroup
	gone := func() { mu.Lock(); rep.Gone++; mu.Unlock() }
	for _, t := range p.DeleteTags {
		if changed[t.Tag] {
			problem(false, "tag %s was re-pushed to another digest after the plan and was left alone", t.Tag)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := v.retry(ctx, func() error {
				_, err := v.headManifest(ctx, t.Tag)
				if err == nil {
					return fmt.Errorf("tag %s still resolves", t.Tag)
				}
				if isNotFound(err) {
					return nil
				}
				return err
			})
			if err != nil {
				problem(true, "deleted tag: %v", err)
				return
			}
			gone()
		}()
	}
	for _, m := range p.DeleteManifests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := v.retry(ctx, func() error {
				if _, err := v.headManifest(ctx, string(m.Digest)); err == nil {
					return fmt.Errorf("manifest %s still answers HEAD 200", m.Digest)
				} else if !isNotFound(err) {
					return err
				}
				if _, _, err := v.getManifest(ctx, string(m.Digest)); err == nil {
					return fmt.Errorf("manifest %s still answers GET 200", m.Digest)
				} else if !isNotFound(err) {
					return err
				}
				return nil
			})
			if err != nil {
				problem(true, "deleted manifest: %v", err)
				return
			}
			gone()
		}()
	}
	for _, b := range p.DeleteBlobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var state string
			err := v.retry(ctx, func() error {
				var err error
				state, err = v.blobGone(ctx, image.Descriptor{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType})
				if err != nil {
					return err
				}
				if state != "gone" {
					return fmt.Errorf("blob %s still served (%s)", b.Digest, state)
				}
				return nil
			})
			switch {
			case err == nil:
				gone()
			case state == "stale":
				mu.Lock()
				staleN++
				mu.Unlock()
				problem(true, "deleted blob: %v: the registry answers 200 with a short or wrong body — a stale blob descriptor cache; restart the registry", err)
			case skipped[b.Digest]:
				mu.Lock()
				pendingN++
				mu.Unlock()
				problem(true, "blob %s still served: blob deletes are disabled, garbage collection must remove it", b.Digest)
			default:
				problem(true, "deleted blob: %v", err)
			}
		}()
	}
	wg.Wait()

	// Survivors.
	broken := v.survivors(ctx, p, func(format string, a ...any) { problem(false, format, a...) })
	rep.Survivors = len(p.SurvivingTags)
	sort.Strings(rep.Problems)
	sort.Strings(rep.StillServed)
	rep.Requests = int(v.requests)
	other := len(rep.StillServed) - staleN - pendingN
	switch {
	case broken || other > 0:
		rep.Verdict = VerdictFailed
	case staleN > 0:
		rep.Verdict = VerdictRestartNeeded
	case pendingN > 0:
		rep.Verdict = VerdictPendingGC
	default:
		rep.Verdict = VerdictClean
	}
	return rep, ctx.Err()
}

type verifier struct {
	repo     Repository
	opts     VerifyOptions
	sem      chan struct{}
	mu       sync.Mutex
	requests int64
}

func (v *verifier) count() {
	v.mu.Lock()
	v.requests++
	v.mu.Unlock()
}

func (v *verifier) headManifest(ctx context.Context, ref string) (image.Descriptor, error) {
	v.sem <- struct{}{}
	defer func() { <-v.sem }()
	v.count()
	return v.repo.HeadManifest(ctx, ref)
}

func (v *verifier) getManifest(ctx context.Context, ref string) (image.Descriptor, []byte, error) {
	v.sem <- struct{}{}
	defer func() { <-v.sem }()
	v.count()
	return v.repo.GetManifest(ctx, ref)
}

func (v *verifier) headBlob(ctx context.Context, d image.Digest) error {
	v.sem <- struct{}{}
	defer func() { <-v.sem }()
	v.count()
	_, err := v.repo.HeadBlob(ctx, d)
	return err
}

// getHash GETs a blob and returns the digest and length of what came back.
func (v *verifier) getHash(ctx context.Context, d image.Descriptor) (image.Digest, int64, error) {
	v.sem <- struct{}{}
	defer func() { <-v.sem }()
	v.count()
	rc, err := v.repo.GetBlob(ctx, d)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	// A read error (a short body: "unexpected EOF") is not returned: the
	// wrong digest or length it leaves is the stale-cache symptom.
	n, _ := io.Copy(h, io.LimitReader(rc, 1<<30))
	return image.FromSum(h.Sum(nil)), n, nil
}

// blobGone returns "gone" (404 to HEAD and GET), "present" (a full,
// correct body) or "stale" (200 with a short or wrong body).
func (v *verifier) blobGone(ctx context.Context, d image.Descriptor) (string, error) {
	herr := v.headBlob(ctx, d.Digest)
	if herr != nil && !isNotFound(herr) {
		return "", herr
	}
	got, n, gerr := v.getHash(ctx, d)
	switch {
	case gerr != nil && isNotFound(gerr):
		if herr == nil {
			return "stale", nil // HEAD 200 but GET 404
		}
		return "gone", nil
	case gerr != nil:
		return "", gerr
	case got == d.Digest && (d.Size <= 0 || n == d.Size):
		return "present", nil
	}
	return "stale", nil
}

func (v *verifier) retry(ctx context.Context, f func() error) error {
	wait := v.opts.Backoff
	var err error
	for i := 0; i < v.opts.Attempts; i++ {
		if err = f(); err == nil {
			return nil
		}
		if i == v.opts.Attempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	return err
}

// survivors checks every surviving tag: same digest, manifests fetchable,
// every blob HEAD 200, every config GET with the right hash. Objects shared
// by several tags are checked once.
func (v *verifier) survivors(ctx context.Context, p *Plan, problem func(string, ...any)) bool {
	var mu sync.Mutex
	broken := false
	fail := func(format string, a ...any) {
		mu.Lock()
		broken = true
		mu.Unlock()
		problem(format, a...)
	}
	checkedM := map[image.Digest]bool{}
	checkedB := map[image.Digest]bool{}
	claim := func(m map[image.Digest]bool, d image.Digest) bool {
		mu.Lock()
		defer mu.Unlock()
		if m[d] {
			return false
		}
		m[d] = true
		return true
	}
	var wg sync.WaitGroup
	var walk func(tag string, d image.Digest)
	walk = func(tag string, d image.Digest) {
		defer wg.Done()
		if !claim(checkedM, d) {
			return
		}
		desc, raw, err := v.getManifest(ctx, string(d))
		if err != nil {
			fail("surviving tag %s: manifest %s not retrievable: %v", tag, d, err)
			return
		}
		if got := manifestDigest(desc.MediaType, raw); got != d {
			fail("surviving tag %s: manifest %s came back as %s", tag, d, got)
			return
		}
		m, err := describe(d, desc.MediaType, raw)
		if err != nil {
			return // opaque artifact: fetched fine
		}
		for _, c := range m.Children {
			wg.Add(1)
			go walk(tag, c.Digest)
		}
		for _, b := range m.Blobs {
			if !claim(checkedB, b.Digest) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if b.Role == "config" {
					got, n, err := v.getHash(ctx, image.Descriptor{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType})
					if err != nil {
						fail("surviving tag %s: config %s not retrievable: %v", tag, b.Digest, err)
					} else if got != b.Digest || b.Size > 0 && n != b.Size {
						fail("surviving tag %s: config %s came back as %s (%d bytes)", tag, b.Digest, got, n)
					}
					return
				}
				if err := v.headBlob(ctx, b.Digest); err != nil {
					fail("surviving tag %s: %s %s not retrievable: %v", tag, b.Role, b.Digest, err)
				}
			}()
		}
	}
	for _, tag := range sortedKeys(p.SurvivingTags) {
		want := p.SurvivingTags[tag]
		wg.Add(1)
		go func() {
			defer wg.Done()
			desc, err := v.headManifest(ctx, tag)
			if err != nil {
				fail("surviving tag %s does not resolve any more: %v", tag, err)
				return
			}
			if desc.Digest != want {
				fail("surviving tag %s now resolves to %s, was %s", tag, desc.Digest, want)
				return
			}
			wg.Add(1)
			walk(tag, want)
		}()
	}
	wg.Wait()
	return broken
}

// manifestDigest hashes a manifest as the registry addresses it (the signed
// payload for schema 1).
func manifestDigest(mediaType string, raw []byte) image.Digest {
	if image.IsSchema1(mediaType) {
		if pl, err := image.Schema1Payload(raw); err == nil {
			return image.FromBytes(pl)
		}
	}
	return image.FromBytes(raw)
}
