package purge

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
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

// VerdictChanged: the repository changed during the purge in a way that
// touches the plan: a tag or referrer pushed meanwhile uses a blob or
// manifest the plan deleted, which was kept (or uploaded again) for it and
// stays pullable through it. Every tag present at verification is whole.
const VerdictChanged = "changed"

// Report is the outcome of Verify.
type Report struct {
	Verdict string `json:"verdict"`
	// Gone counts deleted objects confirmed 404 to HEAD and GET.
	Gone int `json:"gone"`
	// Survivors counts the tags present at verification checked whole:
	// the plan's surviving tags and any tag pushed during the purge.
	Survivors int `json:"survivors"`
	// NewTags are tags present at verification that the plan did not
	// expect there (pushed during the purge, or moved to another digest).
	NewTags []string `json:"newTags"`
	// Changed describes planned deletions that writers during the purge
	// made unsafe: what was kept, and for which tags.
	Changed []string `json:"changed"`
	// Problems lists every failed check.
	Problems []string `json:"problems"`
	// StillServed lists deleted objects the registry still serves.
	StillServed []string `json:"stillServed"`
	// Requests counts the requests Verify made.
	Requests int `json:"requests"`
}

// Verify checks a purge against the repository as it is now. It lists the
// tags again and checks every tag present (the plan's survivors and any tag
// pushed during the purge): each resolves, and its manifests, their
// referrers, configs (hashed) and layers (HEAD) are retrievable. Every
// deleted tag, manifest and blob must answer 404 to HEAD and GET (blob
// bodies are hashed: a 200 with a short or wrong body is a stale descriptor
// cache), with retries and backoff, unless a tag present now uses it: then
// the repository changed during the purge and the verdict says so.
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
	v.rep = &Report{NewTags: []string{}, Changed: []string{}, Problems: []string{}, StillServed: []string{}}
	if res != nil && res.ManifestDeleteUnsupported {
		v.rep.Verdict = VerdictNotPurged
		v.rep.Problems = append(v.rep.Problems, "the registry refused deletes; nothing was deleted")
		return v.rep, nil
	}
	v.outcomes(res)
	now := v.present(ctx, p)
	v.deleted(ctx, p, now)
	v.whole(ctx, now)
	rep := v.rep
	sort.Strings(rep.Problems)
	sort.Strings(rep.StillServed)
	sort.Strings(rep.Changed)
	rep.Requests = int(v.requests)
	other := len(rep.StillServed) - v.staleN - v.pendingN
	switch {
	case v.broken || other > 0:
		rep.Verdict = VerdictFailed
	case len(rep.Changed) > 0:
		rep.Verdict = VerdictChanged
	case v.staleN > 0:
		rep.Verdict = VerdictRestartNeeded
	case v.pendingN > 0:
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
	rep      *Report
	broken   bool
	staleN   int
	pendingN int
	// From the Result: blob deletes not done (disabled), blobs kept or
	// restored for writers, tags left alone because they moved.
	skipped map[image.Digest]bool
	kept    map[image.Digest]BlobInUse
	moved   map[string]bool
}

// problem records a failed check; served marks a deleted object still served.
func (v *verifier) problem(served bool, format string, a ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	msg := fmt.Sprintf(format, a...)
	v.rep.Problems = append(v.rep.Problems, msg)
	if served {
		v.rep.StillServed = append(v.rep.StillServed, msg)
	}
}

// fail records a broken survivor.
func (v *verifier) fail(format string, a ...any) {
	v.mu.Lock()
	v.broken = true
	v.mu.Unlock()
	v.problem(false, format, a...)
}

func (v *verifier) changed(format string, a ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rep.Changed = append(v.rep.Changed, fmt.Sprintf(format, a...))
}

func (v *verifier) outcomes(res *Result) {
	v.skipped, v.kept, v.moved = map[image.Digest]bool{}, map[image.Digest]BlobInUse{}, map[string]bool{}
	if res == nil {
		return
	}
	for _, s := range res.Steps {
		if s.Op == "delete-blob" && (s.Outcome == OutcomeSkipped || s.Outcome == OutcomeUnsupported) {
			v.skipped[s.Digest] = true
		}
		if s.Op == "delete-tag" && s.Outcome == OutcomeChanged {
			v.moved[s.Ref] = true
		}
	}
	for _, u := range res.InUse {
		if u.Outcome != OutcomeLost {
			v.kept[u.Digest] = u
		}
	}
}

// now is the repository as Verify found it.
type now struct {
	inv *Inventory
	// roots are the tags present now that must be whole: every tag except
	// deleted ones still at their planned digest (checked as deleted).
	roots []string
	// reach maps the manifests reached from roots (index children,
	// referrers) to the roots reaching them; missing the same for children
	// the registry does not serve.
	reach, missing map[image.Digest][]string
	// blobUsers maps each blob of a reached manifest to those manifests.
	blobUsers map[image.Digest][]image.Digest
}

// present lists the tags again and inventories everything they reach.
func (v *verifier) present(ctx context.Context, p *Plan) *now {
	n := &now{reach: map[image.Digest][]string{}, missing: map[image.Digest][]string{}, blobUsers: map[image.Digest][]image.Digest{}}
	cr := &countingRepo{Repository: v.repo}
	inv, err := Take(ctx, cr, p.Repository, InventoryOptions{Concurrency: v.opts.Concurrency, Logger: v.opts.Logger})
	v.requests += cr.n.Load()
	if err != nil {
		v.fail("listing %s again to check every tag present: %v", p.Repository, err)
		return n
	}
	n.inv = inv
	deletedAt := map[string]image.Digest{}
	for _, t := range p.DeleteTags {
		deletedAt[t.Tag] = t.Digest
	}
	for _, tag := range sortedKeys(p.SurvivingTags) {
		if _, ok := inv.Tags[tag]; !ok {
			v.fail("surviving tag %s does not resolve any more", tag)
		}
	}
	for _, tag := range sortedKeys(inv.Tags) {
		d := inv.Tags[tag]
		if was, ok := deletedAt[tag]; ok && was == d {
			continue
		}
		n.roots = append(n.roots, tag)
		if was, ok := p.SurvivingTags[tag]; !ok || was != d {
			v.rep.NewTags = append(v.rep.NewTags, tag)
		}
	}
	for _, tag := range n.roots {
		seen := set[image.Digest]{}
		stack := []image.Digest{inv.Tags[tag]}
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !seen.add(d) {
				continue
			}
			m := inv.Manifests[d]
			if m == nil {
				n.missing[d] = append(n.missing[d], tag)
				continue
			}
			n.reach[d] = append(n.reach[d], tag)
			for _, c := range m.Children {
				stack = append(stack, c.Digest)
			}
			for _, r := range m.Referrers {
				if inv.Manifests[r] != nil {
					stack = append(stack, r)
				}
			}
		}
	}
	for _, d := range sortedDigests(n.reach) {
		bs := set[image.Digest]{}
		for _, b := range inv.Manifests[d].Blobs {
			if bs.add(b.Digest) {
				n.blobUsers[b.Digest] = append(n.blobUsers[b.Digest], d)
			}
		}
	}
	return n
}

// whole checks that everything the present tags reach is retrievable:
// every config fetched and hashed, every other blob HEAD 200, each checked
// once however many tags share it.
func (v *verifier) whole(ctx context.Context, n *now) {
	v.rep.Survivors = len(n.roots)
	for _, d := range sortedDigests(n.missing) {
		v.fail("tag %s: manifest %s not retrievable (404)", strings.Join(n.missing[d], ", "), d)
	}
	if n.inv == nil {
		return
	}
	var wg sync.WaitGroup
	checked := set[image.Digest]{}
	for _, d := range sortedDigests(n.reach) {
		tags := strings.Join(n.reach[d], ", ")
		for _, b := range n.inv.Manifests[d].Blobs {
			if !checked.add(b.Digest) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if b.Role != "config" {
					if err := v.headBlob(ctx, b.Digest); err != nil {
						v.fail("tag %s: %s %s of manifest %s not retrievable: %v", tags, b.Role, b.Digest, d, err)
					}
					return
				}
				got, size, err := v.getHash(ctx, image.Descriptor{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType})
				if err != nil {
					v.fail("tag %s: config %s of manifest %s not retrievable: %v", tags, b.Digest, d, err)
				} else if got != b.Digest || b.Size > 0 && size != b.Size {
					v.fail("tag %s: config %s came back as %s (%d bytes)", tags, b.Digest, got, size)
				}
			}()
		}
	}
	wg.Wait()
}

// deleted checks every planned deletion: gone (404 to HEAD and GET), or in
// use by a tag present now (the repository changed during the purge).
func (v *verifier) deleted(ctx context.Context, p *Plan, n *now) {
	var wg sync.WaitGroup
	gone := func() { v.mu.Lock(); v.rep.Gone++; v.mu.Unlock() }
	for _, t := range p.DeleteTags {
		if cur, ok := n.tag(t.Tag); ok && cur != t.Digest {
			if v.moved[t.Tag] {
				v.problem(false, "tag %s was re-pushed to another digest after the plan and was left alone", t.Tag)
			}
			continue // present at another digest: checked whole
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.retry(ctx, func() error { return v.tagGone(ctx, t.Tag) }); err != nil {
				v.problem(true, "deleted tag: %v", err)
				return
			}
			gone()
		}()
	}
	for _, m := range p.DeleteManifests {
		if tags := n.reach[m.Digest]; len(tags) > 0 {
			v.changed("manifest %s that the plan deleted is used by tag %s, pushed during the purge", m.Digest, strings.Join(tags, ", "))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.retry(ctx, func() error { return v.manifestGone(ctx, m.Digest) }); err != nil {
				v.problem(true, "deleted manifest: %v", err)
				return
			}
			gone()
		}()
	}
	for _, b := range p.DeleteBlobs {
		if v.keptFor(b, n) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v.blobDeleted(ctx, b) {
				gone()
			}
		}()
	}
	wg.Wait()
}

func (n *now) tag(tag string) (image.Digest, bool) {
	if n.inv == nil {
		return "", false
	}
	d, ok := n.inv.Tags[tag]
	return d, ok
}

// keptFor reports (as a change) a planned blob that a manifest pushed
// during the purge uses: kept or restored by Apply, or present and used.
func (v *verifier) keptFor(b BlobAction, n *now) bool {
	what := "blob"
	if b.Leaked {
		what = "LEAKED layer"
	}
	if u, ok := v.kept[b.Digest]; ok {
		v.changed("%s %s %s because %s, pushed during the purge, use(s) it: it stays pullable through them", what, b.Digest, map[string]string{OutcomeInUse: "was not deleted", OutcomeRestored: "was uploaded again"}[u.Outcome], usersText(u.Tags, u.Manifests))
		return true
	}
	if us := n.blobUsers[b.Digest]; len(us) > 0 {
		ts := set[string]{}
		for _, u := range us {
			for _, t := range n.reach[u] {
				ts.add(t)
			}
		}
		v.changed("%s %s that the plan deleted is used by %s, pushed during the purge", what, b.Digest, usersText(sortedKeys(ts), us))
		return true
	}
	return false
}

func usersText(tags []string, ms []image.Digest) string {
	if len(tags) > 0 {
		return "tag(s) " + strings.Join(tags, ", ")
	}
	var s []string
	for _, m := range ms {
		s = append(s, string(m))
	}
	return "untagged manifest(s) " + strings.Join(s, ", ")
}

func (v *verifier) tagGone(ctx context.Context, tag string) error {
	_, err := v.headManifest(ctx, tag)
	if err == nil {
		return fmt.Errorf("tag %s still resolves", tag)
	}
	if isNotFound(err) {
		return nil
	}
	return err
}

func (v *verifier) manifestGone(ctx context.Context, d image.Digest) error {
	if _, err := v.headManifest(ctx, string(d)); err == nil {
		return fmt.Errorf("manifest %s still answers HEAD 200", d)
	} else if !isNotFound(err) {
		return err
	}
	if _, _, err := v.getManifest(ctx, string(d)); err == nil {
		return fmt.Errorf("manifest %s still answers GET 200", d)
	} else if !isNotFound(err) {
		return err
	}
	return nil
}

// blobDeleted checks one deleted blob, with retries, and classifies what
// is still served: a stale cache, a delete left to GC, or a failure.
func (v *verifier) blobDeleted(ctx context.Context, b BlobAction) bool {
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
		return true
	case state == "stale":
		v.mu.Lock()
		v.staleN++
		v.mu.Unlock()
		v.problem(true, "deleted blob: %v: the registry answers 200 with a short or wrong body — a stale blob descriptor cache; restart the registry", err)
	case v.skipped[b.Digest]:
		v.mu.Lock()
		v.pendingN++
		v.mu.Unlock()
		v.problem(true, "blob %s still served: blob deletes are disabled, garbage collection must remove it", b.Digest)
	default:
		v.problem(true, "deleted blob: %v", err)
	}
	return false
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
