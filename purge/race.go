package purge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/stratascan/strata/image"
)

// Outcomes of blob steps decided by the concurrent-writer checks.
const (
	// OutcomeInUse: the blob was not deleted because a manifest present at
	// the check before the blob deletes uses it (a tag or referrer pushed
	// during the purge).
	OutcomeInUse = "in-use"
	// OutcomeRestored: the blob was deleted, then uploaded again because a
	// tag pushed between the last check and the DELETE uses it.
	OutcomeRestored = "restored"
	// OutcomeLost: the blob was deleted and a tag present after the
	// deletes needs it, but its bytes were not held: that tag is broken
	// until it is pushed again.
	OutcomeLost = "lost"
)

// DefaultRestoreLimit is how many bytes of planned blobs Apply holds in
// memory by default so that it can upload again a blob a concurrent push
// started to use between its last check and the DELETE.
const DefaultRestoreLimit = 256 << 20

// DefaultSettle is how long Apply waits by default after its last blob
// DELETE before checking for pushes that use a deleted blob.
const DefaultSettle = time.Second

// BlobInUse is a planned blob that manifests present during the purge use:
// kept, restored or lost (Outcome).
type BlobInUse struct {
	Digest  image.Digest `json:"digest"`
	Outcome string       `json:"outcome"`
	// Tags are the tags present at the check that reach a user of the blob
	// (or, for an untagged referrer, its subject).
	Tags []string `json:"tags"`
	// Manifests are the present manifests that reference the blob.
	Manifests []image.Digest `json:"manifests"`
}

// writerCheck guards the blob deletes against concurrent writers: before
// them it takes a fresh inventory and keeps every planned blob that a
// manifest present now uses; after them it takes another and uploads again
// (from bytes read just before each DELETE) every deleted blob that a
// manifest present now uses. Manifests are content-addressed, so those
// already seen are not fetched again.
type writerCheck struct {
	repo  Repository
	p     *Plan
	log   *slog.Logger
	known map[image.Digest]*Manifest
	// held are the bytes of deleted blobs, for restoring; budget is what
	// may still be held.
	held   map[image.Digest][]byte
	budget int64
	// requests counts the requests the checks made.
	requests int
}

func newWriterCheck(repo Repository, p *Plan, opts ApplyOptions, log *slog.Logger) *writerCheck {
	w := &writerCheck{repo: repo, p: p, log: log, known: map[image.Digest]*Manifest{}, held: map[image.Digest][]byte{}, budget: opts.RestoreLimit}
	if w.budget == 0 {
		w.budget = DefaultRestoreLimit
	}
	// Deleted manifests are never taken from the earlier inventory: a
	// present manifest must have been fetched now (a new signature's
	// subject that the plan deleted must come back 404, not from memory).
	doomed := map[image.Digest]bool{}
	for _, m := range p.DeleteManifests {
		doomed[m.Digest] = true
	}
	if opts.Inventory != nil {
		for d, m := range opts.Inventory.Manifests {
			if !doomed[d] {
				w.known[d] = m
			}
		}
	}
	return w
}

// usage inventories the repository as it is now and returns, for each of
// the given blobs that a present manifest references, who uses it.
func (w *writerCheck) usage(ctx context.Context, blobs map[image.Digest]bool) (map[image.Digest]*BlobInUse, error) {
	cr := &countingRepo{Repository: w.repo}
	inv, err := Take(ctx, cr, w.p.Repository, InventoryOptions{Known: w.known, Logger: w.log})
	w.requests += int(cr.n.Load())
	if err != nil {
		return nil, fmt.Errorf("checking %s for concurrent pushes before deleting blobs: %w", w.p.Repository, err)
	}
	doomed := map[image.Digest]bool{}
	for _, m := range w.p.DeleteManifests {
		doomed[m.Digest] = true
	}
	for d, m := range inv.Manifests {
		if !doomed[d] {
			w.known[d] = m
		}
	}
	g := newGraph(inv)
	reaching := g.tagsReaching(sortedKeys(inv.Tags))
	out := map[image.Digest]*BlobInUse{}
	for _, d := range sortedDigests(inv.Manifests) {
		seen := set[image.Digest]{}
		for _, b := range inv.Manifests[d].Blobs {
			if !blobs[b.Digest] || !seen.add(b.Digest) {
				continue
			}
			u := out[b.Digest]
			if u == nil {
				u = &BlobInUse{Digest: b.Digest, Tags: []string{}}
				out[b.Digest] = u
			}
			u.Manifests = append(u.Manifests, d)
			for _, t := range g.userTags(d, reaching) {
				if !containsString(u.Tags, t) {
					u.Tags = append(u.Tags, t)
				}
			}
			sort.Strings(u.Tags)
		}
	}
	return out, nil
}

// hold reads a blob about to be deleted into memory, verified against its
// digest, while the budget allows. A blob that cannot be read is simply not
// held (it may be gone already).
func (w *writerCheck) hold(ctx context.Context, b BlobAction) {
	if b.Size < 0 || b.Size > w.budget {
		return
	}
	rc, err := w.repo.GetBlob(ctx, image.Descriptor{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType})
	w.requests++
	if err != nil {
		return
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, b.Size+1))
	if err != nil || int64(len(data)) != b.Size || b.Digest.Algorithm() != "sha256" {
		return
	}
	if sum := sha256.Sum256(data); image.FromSum(sum[:]) != b.Digest {
		return
	}
	w.held[b.Digest] = data
	w.budget -= b.Size
}

// restore uploads a held blob again.
func (w *writerCheck) restore(ctx context.Context, d image.Digest) (bool, error) {
	data, ok := w.held[d]
	if !ok {
		return false, nil
	}
	w.requests++
	if err := w.repo.PutBlob(ctx, d, int64(len(data)), bytes.NewReader(data)); err != nil {
		return false, fmt.Errorf("uploading blob %s again for a tag pushed during the purge: %w", d, err)
	}
	return true, nil
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// countingRepo counts the calls made through it.
type countingRepo struct {
	Repository
	n atomic.Int64
}

func (c *countingRepo) Tags(ctx context.Context) ([]string, error) {
	c.n.Add(1)
	return c.Repository.Tags(ctx)
}

func (c *countingRepo) HeadManifest(ctx context.Context, ref string) (image.Descriptor, error) {
	c.n.Add(1)
	return c.Repository.HeadManifest(ctx, ref)
}

func (c *countingRepo) GetManifest(ctx context.Context, ref string) (image.Descriptor, []byte, error) {
	c.n.Add(1)
	return c.Repository.GetManifest(ctx, ref)
}

func (c *countingRepo) Referrers(ctx context.Context, subject image.Digest, artifactType string) ([]image.Descriptor, bool, error) {
	c.n.Add(1)
	return c.Repository.Referrers(ctx, subject, artifactType)
}
