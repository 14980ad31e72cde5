package purge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/stratascan/strata/image"
)

// ErrDeleteUnsupported reports a registry that refuses manifest deletes
// altogether: nothing was deleted, the operator must act (see HandOff).
var ErrDeleteUnsupported = errors.New("registry does not allow deletes")

// ErrChanged reports registry state that changed since the plan was made in
// a way that makes continuing unsafe.
var ErrChanged = errors.New("registry changed since the plan")

// Step is one registry request of a purge.
type Step struct {
	N  int    `json:"n"`
	Op string `json:"op"` // delete-manifest | delete-tag | delete-blob
	// Ref is the tag (delete-tag) or digest.
	Ref string `json:"ref"`
	// Digest is the digest a deleted tag must still point at.
	Digest image.Digest `json:"digest,omitempty"`
}

// Step outcomes.
const (
	OutcomeDeleted     = "deleted"
	OutcomeAbsent      = "absent"          // already gone (404): counts as done
	OutcomeViaDigest   = "via-digest"      // tag DELETE refused; the planned digest delete removes it
	OutcomePlaceholder = "via-placeholder" // tag pointed at a throwaway manifest, deleted by digest
	OutcomeChanged     = "changed"         // the tag now points elsewhere: left alone
	OutcomeUnsupported = "unsupported"     // registry refused (blob deletes): hand-off
	OutcomeSkipped     = "skipped"         // not attempted (blob deletes disabled)
)

// Steps lists the plan's requests in the safe order: referrers and
// attestations, tags, indexes, other manifests, then blobs.
func (p *Plan) Steps() []Step {
	var out []Step
	add := func(op, ref string, d image.Digest) {
		out = append(out, Step{N: len(out) + 1, Op: op, Ref: ref, Digest: d})
	}
	for _, m := range p.DeleteManifests {
		if manifestPhase(m) == 0 {
			add("delete-manifest", string(m.Digest), m.Digest)
		}
	}
	for _, t := range p.DeleteTags {
		add("delete-tag", t.Tag, t.Digest)
	}
	for _, phase := range []int{2, 3} {
		for _, m := range p.DeleteManifests {
			if manifestPhase(m) == phase {
				add("delete-manifest", string(m.Digest), m.Digest)
			}
		}
	}
	for _, b := range p.DeleteBlobs {
		add("delete-blob", string(b.Digest), b.Digest)
	}
	return out
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// UntagViaPlaceholder: when the registry refuses a tag DELETE
	// (distribution 2.8), point the tag at a throwaway manifest and delete
	// that by digest, instead of relying on the planned digest delete.
	UntagViaPlaceholder bool `json:"untagViaPlaceholder,omitempty"`
	// RestoreLimit bounds the bytes of planned blobs held in memory during
	// the blob deletes, so that a blob a concurrent push started to use
	// between the last check and its DELETE can be uploaded again
	// (default DefaultRestoreLimit; negative: hold none).
	RestoreLimit int64 `json:"restoreLimit,omitempty"`
	// Settle is how long Apply waits after the last blob DELETE before it
	// checks for pushes that use a deleted blob (default DefaultSettle;
	// negative: no wait). A registry validates a manifest's blobs before it
	// stores the manifest and its tag: a push validated just before a
	// DELETE becomes visible a moment after it.
	Settle time.Duration `json:"settle,omitempty"`
	// Inventory, when set, is the inventory the plan was made from: the
	// checks for concurrent pushes reuse its manifests instead of fetching
	// them again (not serialised).
	Inventory *Inventory `json:"-"`
	// Journal, when set, records the plan and every step (not serialised).
	Journal *Journal `json:"-"`
	// Logger receives progress; nil discards.
	Logger *slog.Logger `json:"-"`
}

// Result is what Apply did.
type Result struct {
	Repository string       `json:"repository"`
	Steps      []StepResult `json:"steps"`
	// ManifestDeleteUnsupported: the probe found deletes disabled; nothing
	// was deleted.
	ManifestDeleteUnsupported bool `json:"manifestDeleteUnsupported"`
	// BlobDeleteUnsupported: blob deletes are disabled; blobs await GC.
	BlobDeleteUnsupported bool `json:"blobDeleteUnsupported"`
	// TagDeleteUnsupported: the registry refused tag DELETEs (2.8).
	TagDeleteUnsupported bool `json:"tagDeleteUnsupported"`
	// InUse lists planned blobs that manifests pushed during the purge use:
	// kept (not deleted), restored (uploaded again) or lost.
	InUse []BlobInUse `json:"inUse"`
	// CheckRequests counts the requests of the checks for concurrent
	// pushes around the blob deletes.
	CheckRequests int `json:"checkRequests"`
}

// StepResult is one step's outcome.
type StepResult struct {
	Step
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// Apply executes a plan. It probes delete support first (a DELETE of a
// random digest, which no registry holds) so that a registry refusing
// deletes loses nothing. Refused plans are not applied.
func Apply(ctx context.Context, repo Repository, p *Plan, opts ApplyOptions) (*Result, error) {
	if err := p.Err(); err != nil {
		return nil, err
	}
	if err := opts.Journal.Write(Entry{Type: "plan", Plan: p, Options: &opts}); err != nil {
		return nil, err
	}
	return run(ctx, repo, p, opts, map[int]string{})
}

func run(ctx context.Context, repo Repository, p *Plan, opts ApplyOptions, done map[int]string) (*Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := &Result{Repository: p.Repository, InUse: []BlobInUse{}}
	mOK, bOK, err := probeDelete(ctx, repo)
	if err != nil {
		return res, err
	}
	if !mOK {
		res.ManifestDeleteUnsupported = true
		res.BlobDeleteUnsupported = !bOK
		for _, s := range p.Steps() {
			res.Steps = append(res.Steps, StepResult{Step: s, Outcome: OutcomeSkipped})
		}
		return res, fmt.Errorf("%w: %s refuses manifest DELETE (405/400); nothing was deleted — see the hand-off", ErrDeleteUnsupported, p.Repository)
	}
	res.BlobDeleteUnsupported = !bOK
	a := &applier{repo: repo, p: p, opts: opts, done: done, res: res, log: log, planned: map[image.Digest]bool{}}
	for _, m := range p.DeleteManifests {
		a.planned[m.Digest] = true
	}
	var blobs []Step
	for _, s := range p.Steps() {
		if s.Op == "delete-blob" {
			blobs = append(blobs, s)
			continue
		}
		if err := a.exec(ctx, s); err != nil {
			return res, err
		}
	}
	return res, a.blobPhase(ctx, blobs)
}

// applier runs the steps of one plan.
type applier struct {
	repo    Repository
	p       *Plan
	opts    ApplyOptions
	done    map[int]string
	res     *Result
	log     *slog.Logger
	planned map[image.Digest]bool
}

// exec runs one step (or records its outcome from an earlier run),
// journalling it.
func (a *applier) exec(ctx context.Context, s Step) error {
	if o, ok := a.done[s.N]; ok {
		a.res.Steps = append(a.res.Steps, StepResult{Step: s, Outcome: o})
		if o == OutcomeViaDigest {
			a.res.TagDeleteUnsupported = true
		}
		return nil
	}
	if s.Op == "delete-blob" && a.res.BlobDeleteUnsupported {
		a.res.Steps = append(a.res.Steps, StepResult{Step: s, Outcome: OutcomeSkipped})
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.opts.Journal.Write(Entry{Type: "step", Step: &s, State: "start"}); err != nil {
		return err
	}
	outcome, err := doStep(ctx, a.repo, s, a.planned, a.opts, a.res)
	if err != nil {
		_ = a.opts.Journal.Write(Entry{Type: "step", Step: &s, State: "failed", Error: err.Error()})
		a.res.Steps = append(a.res.Steps, StepResult{Step: s, Outcome: "failed", Error: err.Error()})
		return fmt.Errorf("purge of %s stopped at step %d (%s %s): %w; fix the cause and resume from the journal", a.p.Repository, s.N, s.Op, s.Ref, err)
	}
	return a.record(s, outcome)
}

// record journals a finished step and adds it to the result.
func (a *applier) record(s Step, outcome string) error {
	if err := a.opts.Journal.Write(Entry{Type: "step", Step: &s, State: "done", Outcome: outcome}); err != nil {
		return err
	}
	a.log.Debug("purge step", "n", s.N, "op", s.Op, "ref", s.Ref, "outcome", outcome)
	a.res.Steps = append(a.res.Steps, StepResult{Step: s, Outcome: outcome})
	return nil
}

// blobPhase deletes the planned blobs, guarded against concurrent writers:
// right before the deletes it re-reads the tag list, every current tag's
// manifests and their referrers, and keeps each planned blob a present
// manifest uses (a tag pushed during the purge); each blob is read into
// memory just before its DELETE (within RestoreLimit); after the deletes it
// checks again and uploads back every deleted blob a present manifest now
// uses. What remains is a push whose manifest reached the registry after
// the last check and whose blob was larger than the restore budget.
func (a *applier) blobPhase(ctx context.Context, steps []Step) error {
	if len(steps) == 0 {
		return nil
	}
	wc := newWriterCheck(a.repo, a.p, a.opts, a.log)
	defer func() { a.res.CheckRequests += wc.requests }()
	todo := map[image.Digest]bool{}
	for _, s := range steps {
		if _, ok := a.done[s.N]; !ok {
			todo[s.Digest] = true
		}
	}
	inUse := map[image.Digest]*BlobInUse{}
	if len(todo) > 0 && !a.res.BlobDeleteUnsupported {
		var err error
		if inUse, err = wc.usage(ctx, todo); err != nil {
			return fmt.Errorf("purge of %s stopped before deleting blobs: %w; nothing more was deleted; resume from the journal", a.p.Repository, err)
		}
	}
	byDigest := map[image.Digest]BlobAction{}
	for _, b := range a.p.DeleteBlobs {
		byDigest[b.Digest] = b
	}
	for _, s := range steps {
		if _, ok := a.done[s.N]; !ok {
			if u := inUse[s.Digest]; u != nil {
				u.Outcome = OutcomeInUse
				a.res.InUse = append(a.res.InUse, *u)
				a.log.Info("purge: blob kept, a tag pushed during the purge uses it", "blob", s.Digest, "tags", u.Tags)
				if err := a.record(s, OutcomeInUse); err != nil {
					return err
				}
				continue
			}
			if !a.res.BlobDeleteUnsupported {
				wc.hold(ctx, byDigest[s.Digest])
			}
		}
		if err := a.exec(ctx, s); err != nil {
			return err
		}
	}
	return a.afterBlobs(ctx, wc)
}

// afterBlobs checks, once every blob DELETE has returned, whether a
// manifest pushed meanwhile uses a deleted blob, and uploads it back. Blobs
// an earlier run (before a resume) found in use, restored or lost are
// checked again, so the result reports them with the tags using them now.
func (a *applier) afterBlobs(ctx context.Context, wc *writerCheck) error {
	deleted := map[image.Digest]int{}
	reported := map[image.Digest]bool{}
	for _, u := range a.res.InUse {
		reported[u.Digest] = true
	}
	for i, sr := range a.res.Steps {
		if sr.Op != "delete-blob" || reported[sr.Digest] {
			continue
		}
		switch sr.Outcome {
		case OutcomeDeleted, OutcomeLost, OutcomeInUse, OutcomeRestored:
			deleted[sr.Digest] = i
		}
	}
	if len(deleted) == 0 {
		return nil
	}
	set := map[image.Digest]bool{}
	for d := range deleted {
		set[d] = true
	}
	settle := a.opts.Settle
	if settle == 0 {
		settle = DefaultSettle
	}
	if settle > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle):
		}
	}
	after, err := wc.usage(ctx, set)
	if err != nil {
		return fmt.Errorf("purge of %s: blobs were deleted but the check for concurrent pushes after them failed: %w; resume from the journal to check again", a.p.Repository, err)
	}
	for _, d := range sortedDigests(after) {
		u := after[d]
		i := deleted[d]
		if o := a.res.Steps[i].Outcome; o == OutcomeInUse || o == OutcomeRestored {
			u.Outcome = o // from an earlier run: present, still used
			a.res.InUse = append(a.res.InUse, *u)
			continue
		}
		u.Outcome = OutcomeRestored
		ok, err := wc.restore(ctx, d)
		if !ok {
			u.Outcome = OutcomeLost
			a.log.Warn("purge: a tag pushed during the purge uses a deleted blob that could not be restored", "blob", d, "tags", u.Tags, "error", err)
		}
		a.res.Steps[i].Outcome = u.Outcome
		if err != nil {
			a.res.Steps[i].Error = err.Error()
		}
		a.res.InUse = append(a.res.InUse, *u)
		s := a.res.Steps[i].Step
		if err := a.opts.Journal.Write(Entry{Type: "step", Step: &s, State: "done", Outcome: u.Outcome}); err != nil {
			return err
		}
	}
	return nil
}

func doStep(ctx context.Context, repo Repository, s Step, planned map[image.Digest]bool, opts ApplyOptions, res *Result) (string, error) {
	switch s.Op {
	case "delete-manifest":
		return deleted(repo.DeleteManifest(ctx, s.Ref))
	case "delete-blob":
		err := repo.DeleteBlob(ctx, image.Digest(s.Ref))
		if isUnsupported(err) {
			res.BlobDeleteUnsupported = true
			return OutcomeUnsupported, nil
		}
		return deleted(err)
	case "delete-tag":
		cur, err := repo.HeadManifest(ctx, s.Ref)
		if isNotFound(err) {
			return OutcomeAbsent, nil
		}
		if err != nil {
			return "", err
		}
		if cur.Digest != s.Digest {
			// A placeholder of ours left by an interrupted run: finish it.
			if isPlaceholder(ctx, repo, cur.Digest, s.Ref) {
				if err := repo.DeleteManifest(ctx, string(cur.Digest)); err != nil && !isNotFound(err) {
					return "", fmt.Errorf("deleting placeholder %s of tag %s: %w", cur.Digest, s.Ref, err)
				}
				return OutcomePlaceholder, nil
			}
			return OutcomeChanged, nil
		}
		err = repo.DeleteManifest(ctx, s.Ref)
		if !isUnsupported(err) {
			return deleted(err)
		}
		res.TagDeleteUnsupported = true
		if opts.UntagViaPlaceholder {
			if err := untagViaPlaceholder(ctx, repo, s.Ref); err != nil {
				return "", err
			}
			return OutcomePlaceholder, nil
		}
		if planned[s.Digest] {
			return OutcomeViaDigest, nil
		}
		return "", fmt.Errorf("%w: tag DELETE refused and its manifest %s is not planned for deletion", ErrDeleteUnsupported, s.Digest)
	}
	return "", fmt.Errorf("unknown step %q", s.Op)
}

func deleted(err error) (string, error) {
	switch {
	case err == nil:
		return OutcomeDeleted, nil
	case isNotFound(err):
		return OutcomeAbsent, nil
	}
	return "", err
}

// probeDelete asks the registry to delete a manifest and a blob that cannot
// exist (random digests): 404 means deletes are enabled, 405/400 means not.
func probeDelete(ctx context.Context, repo Repository) (manifests, blobs bool, err error) {
	probe := func(del func(image.Digest) error) (bool, error) {
		var b [32]byte
		_, _ = rand.Read(b[:])
		err := del(image.FromBytes(b[:]))
		switch {
		case err == nil, isNotFound(err):
			return true, nil
		case isUnsupported(err):
			return false, nil
		}
		return false, fmt.Errorf("probing delete support: %w", err)
	}
	if manifests, err = probe(func(d image.Digest) error { return repo.DeleteManifest(ctx, string(d)) }); err != nil {
		return
	}
	blobs, err = probe(func(d image.Digest) error { return repo.DeleteBlob(ctx, d) })
	return
}

// untagViaPlaceholder points tag at a unique throwaway manifest (a tiny
// config, no layers) and deletes it by digest, taking the tag with it.
func untagViaPlaceholder(ctx context.Context, repo Repository, tag string) error {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "none", "os": "none",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}},
		"config": map[string]any{"Labels": map[string]string{
			placeholderLabel:        tag,
			"io.strata.purge.nonce": hex.EncodeToString(nonce[:]),
			"io.strata.purge.date":  time.Now().UTC().Format(time.RFC3339),
		}},
	})
	cd := image.FromBytes(cfg)
	if err := repo.PutBlob(ctx, cd, int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
		return fmt.Errorf("placeholder for tag %s: uploading config: %w", tag, err)
	}
	man, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest,
		Config: image.Descriptor{MediaType: image.MediaTypeOCIConfig, Digest: cd, Size: int64(len(cfg))},
		Layers: []image.Descriptor{}})
	md, err := repo.PutManifest(ctx, tag, image.MediaTypeOCIManifest, man)
	if err != nil {
		return fmt.Errorf("placeholder for tag %s: pushing manifest: %w", tag, err)
	}
	if err := repo.DeleteManifest(ctx, string(md)); err != nil && !isNotFound(err) {
		return fmt.Errorf("placeholder for tag %s: deleting placeholder %s by digest: %w", tag, md, err)
	}
	if err := repo.DeleteBlob(ctx, cd); err != nil && !isNotFound(err) && !isUnsupported(err) {
		return fmt.Errorf("placeholder for tag %s: deleting placeholder config %s: %w", tag, cd, err)
	}
	return nil
}

// isPlaceholder reports whether d is a placeholder manifest strata pushed
// for tag (untagViaPlaceholder): no layers, a config labelled with the tag.
func isPlaceholder(ctx context.Context, repo Repository, d image.Digest, tag string) bool {
	desc, raw, err := repo.GetManifest(ctx, string(d))
	if err != nil {
		return false
	}
	p, err := image.ParseManifest(desc.MediaType, raw)
	if err != nil || p.Manifest == nil || len(p.Manifest.Layers) != 0 || p.Manifest.Config.Size > 4096 {
		return false
	}
	rc, err := repo.GetBlob(ctx, p.Manifest.Config)
	if err != nil {
		return false
	}
	defer rc.Close()
	var cfg struct {
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if json.NewDecoder(io.LimitReader(rc, 4096)).Decode(&cfg) != nil {
		return false
	}
	return cfg.Config.Labels[placeholderLabel] == tag
}

const placeholderLabel = "io.strata.purge.placeholder"

// Resume finishes the purge a journal describes: it runs the steps not yet
// done, appending to the journal, with the same guards as Apply: a planned
// tag that now points elsewhere is left alone, and a planned blob that a
// manifest pushed since uses is kept (the checks around the blob deletes
// see everything present when they run). Started-but-unfinished steps are
// repeated (deletes are idempotent: 404 counts as done). Blobs deleted
// before the interruption were not held in memory by this process: one that
// a push made meanwhile uses is reported lost, not restored.
func Resume(ctx context.Context, repo Repository, journalPath string, opts ApplyOptions) (*Plan, *Result, error) {
	f, err := os.Open(journalPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrJournal, err)
	}
	rp, err := ReadJournal(f)
	f.Close()
	if err != nil {
		return nil, nil, err
	}
	p := rp.Plan
	opts.UntagViaPlaceholder = opts.UntagViaPlaceholder || rp.Options.UntagViaPlaceholder
	if opts.RestoreLimit == 0 {
		opts.RestoreLimit = rp.Options.RestoreLimit
	}
	if opts.Settle == 0 {
		opts.Settle = rp.Options.Settle
	}
	if opts.Journal == nil {
		j, err := AppendJournal(journalPath)
		if err != nil {
			return p, nil, err
		}
		defer j.Close()
		opts.Journal = j
	}
	res, err := run(ctx, repo, p, opts, rp.Done)
	return p, res, err
}

// Recheck re-inventories the repository and checks that the steps of p not
// in done are still safe: no manifest outside the plan references a blob
// still to delete, and no tag still to delete points somewhere new. Resume
// does not need it (Apply's own guards keep such blobs and tags and report
// them); it is for a caller that wants to refuse rather than adapt.
func Recheck(ctx context.Context, repo Repository, p *Plan, done map[int]string, log *slog.Logger) error {
	inv, err := Take(ctx, repo, p.Repository, InventoryOptions{Logger: log})
	if err != nil {
		return err
	}
	doomed := map[image.Digest]bool{}
	for _, m := range p.DeleteManifests {
		doomed[m.Digest] = true
	}
	var problems []string
	for _, s := range p.Steps() {
		if _, ok := done[s.N]; ok {
			continue
		}
		switch s.Op {
		case "delete-tag":
			if cur, ok := inv.Tags[s.Ref]; ok && cur != s.Digest && !doomed[cur] && !isPlaceholder(ctx, repo, cur, s.Ref) {
				problems = append(problems, fmt.Sprintf("tag %s now points at %s, not the planned %s", s.Ref, cur, s.Digest))
			}
		case "delete-blob":
			for _, d := range sortedDigests(inv.Manifests) {
				if doomed[d] {
					continue
				}
				for _, b := range inv.Manifests[d].Blobs {
					if b.Digest == s.Digest {
						problems = append(problems, fmt.Sprintf("blob %s planned for deletion is now used by manifest %s (tags %s)", s.Digest, d, listOr(tagsOn(inv, d), "none")))
					}
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %v; make a new plan instead of resuming", ErrChanged, problems)
	}
	return nil
}

func tagsOn(inv *Inventory, d image.Digest) []string {
	g := newGraph(inv)
	return g.tagsReaching(sortedKeys(inv.Tags))[d]
}
