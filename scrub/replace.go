package scrub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/registry"
)

// ErrReplace: a replace cannot go on as planned (a tag moved meanwhile, the
// purge would delete a blob the scrubbed image uses, the journal does not
// match).
var ErrReplace = errors.New("scrub replace refused")

// TagMove is one tag pointed at the scrubbed image.
type TagMove struct {
	Tag  string       `json:"tag"`
	From image.Digest `json:"from"`
	To   image.Digest `json:"to"`
}

// ReplacePlan is the registry half of a replace: tags moved, signatures
// and referrers that no longer match, and what purge is expected to delete
// once the old digest is untagged.
type ReplacePlan struct {
	Repository string       `json:"repository"`
	OldDigest  image.Digest `json:"oldDigest"`
	NewDigest  image.Digest `json:"newDigest"`
	Tags       []TagMove    `json:"tags"`
	// PurgeManifests and PurgeBlobs are what purge is expected to delete
	// after the tags move (the old image's manifests, config and rewritten
	// layers; never a blob the scrubbed image reuses). The real purge plan
	// is made again after the push, from a fresh inventory.
	PurgeManifests []image.Digest `json:"purgeManifests"`
	PurgeBlobs     []image.Digest `json:"purgeBlobs"`
	Notes          []string       `json:"notes,omitempty"`
}

// PlanReplace inventories repo (read-only) and fills p.Replace: every tag
// that points at the old root (or at one of its platform manifests) moves
// to the scrubbed counterpart; referrers and cosign-style signature tags
// of the old digests are listed in p.Dropped.
func PlanReplace(ctx context.Context, p *Plan, repo *registry.Repo, log *slog.Logger) error {
	inv, err := purge.Take(ctx, repo, repo.Name(), purge.InventoryOptions{Extra: []image.Digest{p.OldRoot.Digest}, Logger: log})
	if err != nil {
		return err
	}
	moves := map[image.Digest]image.Digest{p.OldRoot.Digest: p.NewRoot.Digest}
	for _, ip := range p.Images {
		moves[ip.OldManifest.Digest] = ip.NewManifest.Digest
	}
	rp := &ReplacePlan{Repository: repo.Name(), OldDigest: p.OldRoot.Digest, NewDigest: p.NewRoot.Digest}
	var alsoTags []string
	for tag, d := range inv.Tags {
		if to, ok := moves[d]; ok {
			rp.Tags = append(rp.Tags, TagMove{Tag: tag, From: d, To: to})
			if d == p.OldRoot.Digest {
				alsoTags = append(alsoTags, tag)
			}
		}
	}
	sort.Slice(rp.Tags, func(a, b int) bool { return rp.Tags[a].Tag < rp.Tags[b].Tag })
	if len(rp.Tags) == 0 {
		return fmt.Errorf("%w: no tag of %s points at %s; use --to to push the scrubbed image somewhere", ErrReplace, repo.Name(), p.OldRoot.Digest)
	}
	p.Dropped = append(p.Dropped, signatures(inv, moves)...)
	pp, err := purge.NewPlan(inv, purge.Options{Targets: []string{string(p.OldRoot.Digest)}, AlsoTags: alsoTags})
	if err != nil {
		return err
	}
	reused := p.reusedBlobs()
	for _, m := range pp.DeleteManifests {
		rp.PurgeManifests = append(rp.PurgeManifests, m.Digest)
	}
	for _, b := range pp.DeleteBlobs {
		if !reused[b.Digest] {
			rp.PurgeBlobs = append(rp.PurgeBlobs, b.Digest)
		}
	}
	rp.Notes = append(rp.Notes, pp.Notes...)
	p.Replace = rp
	return nil
}

// signatures lists referrers of the old digests and cosign-style tags
// (sha256-<hex>.sig/.att/.sbom) naming them.
func signatures(inv *purge.Inventory, old map[image.Digest]image.Digest) []Dropped {
	var out []Dropped
	for d := range old {
		if m := inv.Manifests[d]; m != nil {
			for _, r := range m.Referrers {
				out = append(out, Dropped{Digest: r, Kind: "referrer", For: d})
			}
		}
	}
	for tag, d := range inv.Tags {
		if subj, kind, ok := purge.ReferrerSubject(tag); ok {
			if _, isOld := old[subj]; isOld {
				out = append(out, Dropped{Digest: d, Kind: kind, For: subj, Ref: tag})
			}
		}
	}
	sort.Slice(out, func(a, b int) bool {
		return out[a].Digest+image.Digest(out[a].Ref) < out[b].Digest+image.Digest(out[b].Ref)
	})
	return out
}

// reusedBlobs are the blobs the scrubbed image shares with the old one.
func (p *Plan) reusedBlobs() map[image.Digest]bool {
	m := map[image.Digest]bool{}
	for _, ip := range p.Images {
		for _, lp := range ip.Layers {
			m[lp.New.Digest] = true
		}
		m[ip.NewConfig] = true
	}
	return m
}

// ReplaceOptions configure Replace.
type ReplaceOptions struct {
	// Yes applies the purge; without it the purge is only planned.
	Yes bool
	// Journal is the journal file (created; never overwritten). The purge
	// half journals to Journal+".purge".
	Journal string
	// Source records how to make the plan again on resume (the repository
	// reference by old digest is derived; Selectors are kept as given).
	Selectors Selectors
	// UntagViaPlaceholder is passed to purge.
	UntagViaPlaceholder bool
	Logger              *slog.Logger
}

// Replaced is what Replace did.
type Replaced struct {
	Journal     string        `json:"journal"`
	Moved       []TagMove     `json:"moved"`
	Push        PushStats     `json:"push"`
	Purge       *purge.Plan   `json:"purge,omitempty"`
	PurgeResult *purge.Result `json:"purgeResult,omitempty"`
	Verify      *purge.Report `json:"verify,omitempty"`
	HandOff     string        `json:"handOff,omitempty"`
}

// journalEntry is one line of a scrub journal.
type journalEntry struct {
	Type      string       `json:"type"` // "replace" | "pushed" | "purge"
	Time      time.Time    `json:"time"`
	Replace   *ReplacePlan `json:"replace,omitempty"`
	Selectors *Selectors   `json:"selectors,omitempty"`
	Yes       bool         `json:"yes,omitempty"`
	Purge     string       `json:"purgeJournal,omitempty"`
}

type journal struct {
	mu sync.Mutex
	f  *os.File
}

func (j *journal) write(e journalEntry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	e.Time = time.Now().UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return j.f.Sync()
}

// Replace pushes the scrubbed image to every tag PlanReplace listed, then
// plans the purge of the old digest from a fresh inventory (refusing one
// that would delete a blob the scrubbed image uses) and, with opts.Yes,
// applies and verifies it. Every step is journalled; ResumeReplace
// finishes an interrupted run.
func Replace(ctx context.Context, p *Plan, repo *registry.Repo, opts ReplaceOptions) (*Replaced, error) {
	if p.Replace == nil {
		return nil, fmt.Errorf("%w: plan has no replace half (call PlanReplace)", ErrReplace)
	}
	f, err := os.OpenFile(opts.Journal, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: journal %s (resume an existing one instead): %v", ErrReplace, opts.Journal, err)
	}
	j := &journal{f: f}
	defer f.Close()
	sel := withoutSecrets(opts.Selectors)
	if err := j.write(journalEntry{Type: "replace", Replace: p.Replace, Selectors: &sel, Yes: opts.Yes}); err != nil {
		return nil, err
	}
	return continueReplace(ctx, p, repo, opts, j)
}

func continueReplace(ctx context.Context, p *Plan, repo *registry.Repo, opts ReplaceOptions, j *journal) (*Replaced, error) {
	out := &Replaced{Journal: opts.Journal, Moved: p.Replace.Tags}
	var rootTags []string
	for _, t := range p.Replace.Tags {
		if t.From == p.OldRoot.Digest {
			rootTags = append(rootTags, t.Tag)
		}
	}
	st, err := p.Push(ctx, repo, rootTags, "")
	out.Push = st
	if err != nil {
		return out, err
	}
	// Tags that named a platform manifest of an old index move to the
	// scrubbed platform manifest.
	for _, t := range p.Replace.Tags {
		if t.From != p.OldRoot.Digest {
			raw, ok := p.stage.blobs[t.To]
			if !ok {
				return out, fmt.Errorf("%w: manifest %s for tag %s is not staged", ErrReplace, t.To, t.Tag)
			}
			var probe struct {
				MediaType string `json:"mediaType"`
			}
			_ = json.Unmarshal(raw, &probe)
			if _, err := repo.PutManifest(ctx, t.Tag, probe.MediaType, raw); err != nil {
				return out, err
			}
		}
	}
	if err := j.write(journalEntry{Type: "pushed"}); err != nil {
		return out, err
	}
	return out, purgeOld(ctx, p, repo, opts, j, out)
}

// purgeOld plans (and with Yes applies) the purge of the old digest.
func purgeOld(ctx context.Context, p *Plan, repo *registry.Repo, opts ReplaceOptions, j *journal, out *Replaced) error {
	inv, err := purge.Take(ctx, repo, repo.Name(), purge.InventoryOptions{Extra: []image.Digest{p.Replace.OldDigest}, Logger: opts.Logger})
	if err != nil {
		return err
	}
	for _, t := range p.Replace.Tags {
		if inv.Tags[t.Tag] != t.To {
			return fmt.Errorf("%w: tag %s points at %s, not the scrubbed %s (someone pushed meanwhile)", ErrReplace, t.Tag, inv.Tags[t.Tag], t.To)
		}
	}
	pp, err := purge.NewPlan(inv, purge.Options{Targets: []string{string(p.Replace.OldDigest)}})
	if err != nil {
		return err
	}
	out.Purge = pp
	reused := p.reusedBlobs()
	for _, b := range pp.DeleteBlobs {
		if reused[b.Digest] {
			return fmt.Errorf("%w: the purge would delete blob %s, which the scrubbed image uses", ErrReplace, b.Digest)
		}
	}
	if pp.Refused() {
		return pp.Err()
	}
	if !opts.Yes {
		out.HandOff = purge.HandOff(pp, nil, nil)
		return nil
	}
	pj := opts.Journal + ".purge"
	if err := j.write(journalEntry{Type: "purge", Purge: pj}); err != nil {
		return err
	}
	jj, err := purge.CreateJournal(pj)
	if err != nil {
		return err
	}
	defer jj.Close()
	res, err := purge.Apply(ctx, repo, pp, purge.ApplyOptions{UntagViaPlaceholder: opts.UntagViaPlaceholder, Journal: jj, Logger: opts.Logger})
	out.PurgeResult = res
	return finishPurge(ctx, repo, pp, res, err, opts, out)
}

func finishPurge(ctx context.Context, repo *registry.Repo, pp *purge.Plan, res *purge.Result, aerr error, opts ReplaceOptions, out *Replaced) error {
	if aerr != nil && !errors.Is(aerr, purge.ErrDeleteUnsupported) {
		return aerr
	}
	rep, err := purge.Verify(ctx, repo, pp, res, purge.VerifyOptions{Logger: opts.Logger})
	out.Verify = rep
	out.HandOff = purge.HandOff(pp, res, rep)
	if err != nil {
		return err
	}
	return aerr
}

// ReplaceJournal is what a scrub journal recorded.
type ReplaceJournal struct {
	Replace      *ReplacePlan
	Selectors    Selectors
	Yes          bool
	Pushed       bool
	PurgeJournal string
}

// ReadReplaceJournal replays a scrub journal (a torn last line is ignored).
func ReadReplaceJournal(path string) (*ReplaceJournal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReplace, err)
	}
	rj := &ReplaceJournal{}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i, line := range lines {
		var e journalEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			if i == len(lines)-1 {
				break
			}
			return nil, fmt.Errorf("%w: %s line %d is not a scrub journal entry", ErrReplace, path, i+1)
		}
		switch e.Type {
		case "replace":
			rj.Replace, rj.Yes = e.Replace, e.Yes
			if e.Selectors != nil {
				rj.Selectors = *e.Selectors
			}
		case "pushed":
			rj.Pushed = true
		case "purge":
			rj.PurgeJournal = e.Purge
		}
	}
	if rj.Replace == nil {
		return nil, fmt.Errorf("%w: %s records no replace plan", ErrReplace, path)
	}
	return rj, nil
}

// ResumeReplace finishes an interrupted replace. If the purge had started,
// purge.Resume finishes it; otherwise p (made again by NewPlan from the
// old digest with the journalled selectors, and PlanReplace) must produce
// the same scrubbed digest, and the push and purge run again (pushes are
// idempotent).
func ResumeReplace(ctx context.Context, rj *ReplaceJournal, p *Plan, repo *registry.Repo, opts ReplaceOptions) (*Replaced, error) {
	f, err := os.OpenFile(opts.Journal, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReplace, err)
	}
	defer f.Close()
	j := &journal{f: f}
	opts.Yes = rj.Yes
	out := &Replaced{Journal: opts.Journal, Moved: rj.Replace.Tags}
	if rj.PurgeJournal != "" {
		pp, res, aerr := purge.Resume(ctx, repo, rj.PurgeJournal, purge.ApplyOptions{UntagViaPlaceholder: opts.UntagViaPlaceholder, Logger: opts.Logger})
		out.Purge, out.PurgeResult = pp, res
		if pp == nil || res == nil {
			return out, aerr
		}
		return out, finishPurge(ctx, repo, pp, res, aerr, opts, out)
	}
	if p == nil || p.NewRoot.Digest != rj.Replace.NewDigest {
		return out, fmt.Errorf("%w: the plan made again does not give the journalled digest %s", ErrReplace, rj.Replace.NewDigest)
	}
	p.Replace = rj.Replace
	return continueReplace(ctx, p, repo, opts, j)
}
