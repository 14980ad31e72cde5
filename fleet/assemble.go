package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/scan"
)

// assembleWorker records a reference's findings once every layer result
// is in the store.
type assembleWorker struct {
	river.WorkerDefaults[AssembleArgs]
	s *Service
}

// ErrLayersMissing: an assemble_image job waited Config.AssembleWait and
// some of its layers still have no result (their scan_layer jobs failed).
var ErrLayersMissing = fmt.Errorf("fleet: layer results still missing")

// snoozeDelay is how long an assemble job waits for its layers after its
// n-th snooze: 250ms, doubling, at most 8s.
func snoozeDelay(n int) time.Duration {
	if n > 5 {
		n = 5
	}
	return 250 * time.Millisecond << n
}

func (w *assembleWorker) Work(ctx context.Context, job *river.Job[AssembleArgs]) (err error) {
	defer w.s.observe(KindAssemble, time.Now(), &err)
	a := job.Args
	s := w.s
	ref := display(a.Registry, a.Repository, a.Tag, a.Manifest)
	var planned map[string]*scan.LayerResult
	if len(a.Layers) > 0 {
		// While layers planned by the resolve job are missing, wait
		// without asking the registry anything.
		if planned, err = s.cfg.Store.LayerResults(ctx, a.Layers, s.ruleset); err != nil {
			return fmt.Errorf("read layer results: %w", err)
		}
		if n := len(a.Layers) - len(planned); n > 0 {
			return s.waitForLayers(job, n, ref)
		}
	}
	o, err := s.open(ctx, a.Registry, a.Repository, a.Tag, a.Manifest)
	if err != nil {
		return err
	}
	defer o.Close()
	plan := scan.NewPlan(o.targets)
	// The planned layers' results were just read; only layers added since
	// (a new referrer) are asked for.
	results, missing, err := s.layerResults(ctx, plan, planned)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		// Layers the resolve job did not plan (a referrer since): their
		// jobs are enqueued, a no-op for those that exist.
		if err := s.insertMany(ctx, s.scanLayerArgs(o, missing)); err != nil {
			return err
		}
		return s.waitForLayers(job, len(missing), ref)
	}
	res, err := scan.Assemble(ctx, plan, results, scan.Options{Engine: s.cfg.Engine, Results: s.cfg.Store, Logger: s.log})
	if err != nil {
		return fmt.Errorf("assemble %s: %w", o.targets[0].Ref, err)
	}
	return s.record(ctx, a, o, res, results)
}

// waitForLayers snoozes the job (River does not count a snooze as an
// attempt), n layers of ref still missing, until AssembleWait has passed
// since it was created; then it fails, and River retries it with backoff.
func (s *Service) waitForLayers(job *river.Job[AssembleArgs], n int, ref string) error {
	if time.Since(job.CreatedAt) > s.cfg.AssembleWait {
		return fmt.Errorf("%w: %d layers of %s after %s", ErrLayersMissing, n, ref, s.cfg.AssembleWait)
	}
	var meta struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(job.Metadata, &meta) // no metadata: first snooze
	return river.JobSnooze(snoozeDelay(meta.Snoozes))
}

// record writes each selected image of the reference with its findings;
// an attestation's findings go to the image it describes.
func (s *Service) record(ctx context.Context, a AssembleArgs, o *opened, res *scan.Result, results map[string]*scan.LayerResult) error {
	owner := map[image.Digest]image.Digest{} // attestation manifest -> the image it describes
	for _, t := range o.targets {
		for _, im := range t.Root.Images() {
			if im.Kind == image.KindAttestation && im.AttestationFor != "" {
				owner[im.Manifest.Digest] = im.AttestationFor
			}
		}
	}
	byImage := map[image.Digest][]scan.Finding{}
	for _, f := range res.Findings {
		m := f.Manifest
		if o, ok := owner[m]; ok {
			m = o
		}
		byImage[m] = append(byImage[m], f)
	}
	var tags []string
	if a.Tag != "" {
		tags = []string{a.Tag}
	}
	now := time.Now()
	for _, im := range o.targets[0].Images {
		rec := store.ImageRecord{Registry: a.Registry, Repository: a.Repository, Tags: tags, Root: o.root,
			Manifest: im.Manifest.Digest, Platform: platformOf(im), Layers: layerRefs(im, results), Ruleset: s.ruleset}
		if err := s.cfg.Store.RecordImage(ctx, rec, byImage[im.Manifest.Digest], now); err != nil {
			return fmt.Errorf("record %s (%s): %w", o.targets[0].Ref, im.Manifest.Digest, err)
		}
	}
	s.log.Info("fleet: image scanned", "ref", o.targets[0].Ref, "manifest", o.root, "images", len(o.targets[0].Images), "findings", len(res.Findings))
	return nil
}

func platformOf(im *image.Image) string {
	if im.Platform == nil {
		return ""
	}
	return im.Platform.String()
}

// layerRefs lists an image's layers for the store's layer timeline, with
// the diff_id each layer's walk read (the config's claim if unknown).
func layerRefs(im *image.Image, results map[string]*scan.LayerResult) []store.LayerRef {
	out := make([]store.LayerRef, len(im.Layers))
	for i, l := range im.Layers {
		out[i] = store.LayerRef{Index: l.Index, Digest: l.Descriptor.Digest, DiffID: l.DiffID, Size: l.Descriptor.Size}
		if r := results[string(l.Descriptor.Digest)]; r != nil && r.DiffID() != "" {
			out[i].DiffID = r.DiffID()
		}
		if l.History != nil {
			out[i].CreatedBy = l.History.CreatedBy
		}
	}
	return out
}
