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
	res := &Result{Repository: p.Repository}
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
	planned := map[image.Digest]bool{}
	for _, m := range p.DeleteManifests {
		planned[m.Digest] = true
	}
	for _, s := range p.Steps() {
		if o, ok := done[s.N]; ok {
			res.Steps = append(res.Steps, StepResult{Step: s, Outcome: o})
			if o == OutcomeViaDigest {
				res.TagDeleteUnsupported = true
			}
			continue
		}
		if s.Op == "delete-blob" && res.BlobDeleteUnsupported {
			res.Steps = append(res.Steps, StepResult{Step: s, Outcome: OutcomeSkipped})
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := opts.Journal.Write(Entry{Type: "step", Step: &s, State: "start"}); err != nil {
			return res, err
		}
		outcome, err := doStep(ctx, repo, s, planned, opts, res)
		if err != nil {
			_ = opts.Journal.Write(Entry{Type: "step", Step: &s, State: "failed", Error: err.Error()})
			res.Steps = append(res.Steps, StepResult{Step: s, Outcome: "failed", Error: err.Error()})
			return res, fmt.Errorf("purge of %s stopped at step %d (%s %s): %w; fix the cause and resume from the journal", p.Repository, s.N, s.Op, s.Ref, err)
		}
		if err := opts.Journal.Write(Entry{Type: "step", Step: &s, State: "done", Outcome: outcome}); err != nil {
			return res, err
		}
		log.Debug("purge step", "n", s.N, "op", s.Op, "ref", s.Ref, "outcome", outcome)
		res.Steps = append(res.Steps, StepResult{Step: s, Outcome: outcome})
	}
	return res, nil
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

// Resume finishes the purge a journal describes: it re-inventories the
// repository, refuses if the registry changed in a way that makes the
// remaining steps unsafe (a surviving manifest now uses a planned blob, a
// planned tag now points elsewhere), then runs the steps not yet done,
// appending to the journal. Started-but-unfinished steps are repeated
// (deletes are idempotent: 404 counts as done).
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
	if err := Recheck(ctx, repo, p, rp.Done, opts.Logger); err != nil {
		return p, nil, err
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
// still to delete, and no tag still to delete points somewhere new.
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
