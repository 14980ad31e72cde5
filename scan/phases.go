package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/secret"
)

// ErrMissingLayers: Assemble was given no result for some of the plan's
// layers (their findings are missing from the Result it returns).
var ErrMissingLayers = errors.New("scan: layer results missing")

// A LayerJob is one distinct layer to scan. Key is its compressed blob
// digest, which the walk verifies, never the config's diff_id claim (a
// config can forge it): ResultStore entries and a fleet's unique
// scan-layer jobs are keyed by Key and the ruleset hash.
type LayerJob struct {
	// Key is the layer's blob digest as a string.
	Key string
	// Store serves the blob.
	Store content.Store
	// Layer is the layer as the first image holding it lists it (its
	// descriptor, and the diff_id its config claims).
	Layer image.Layer
	// What names the layer in errors ("layer 2 of registry.example/app:1").
	What string
}

// plannedImage is one image to report on and the target it came from.
type plannedImage struct {
	t  *Target
	im *image.Image
}

// A Plan is what a scan of some targets covers: the images to report on
// (each target's selected images, plus the attestations in its tree that
// describe one of them) and the distinct layers of their filesystems. It
// is a plain value: build it again from the same targets to get the same
// plan (a fleet worker assembling an image does so).
type Plan struct {
	images    []plannedImage
	layers    []LayerJob
	layerRefs int
}

// NewPlan lists the images of targets to report on and their distinct
// layers, in image order then layer order.
func NewPlan(targets []Target) *Plan {
	ts := append([]Target(nil), targets...)
	p := &Plan{}
	for ti := range ts {
		t := &ts[ti]
		sel := map[image.Digest]bool{}
		for _, im := range t.Images {
			sel[im.Manifest.Digest] = true
			p.images = append(p.images, plannedImage{t, im})
		}
		if t.Root != nil {
			for _, im := range t.Root.Images() {
				if im.Kind == image.KindAttestation && !sel[im.Manifest.Digest] && sel[im.AttestationFor] {
					p.images = append(p.images, plannedImage{t, im})
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, pi := range p.images {
		if !fsKind(pi.im.Kind) {
			continue
		}
		for _, l := range pi.im.Layers {
			k := layerKey(l)
			p.layerRefs++
			if seen[k] {
				continue
			}
			seen[k] = true
			p.layers = append(p.layers, LayerJob{Key: k, Store: pi.t.Store, Layer: l,
				What: fmt.Sprintf("layer %d of %s", l.Index, pi.t.Ref)})
		}
	}
	return p
}

// Layers returns the distinct layers to scan, each once (do not modify).
func (p *Plan) Layers() []LayerJob { return p.layers }

// Keys returns the keys of Layers, in the same order.
func (p *Plan) Keys() []string {
	keys := make([]string, len(p.layers))
	for i, j := range p.layers {
		keys[i] = j.Key
	}
	return keys
}

// ResultStore persists per-layer results and config-text results, keyed
// by (key, ruleset hash: secret.Engine.RulesetHash). *Cache implements it;
// so can any database shared by many processes. Values are opaque to the
// store: it keeps the bytes it is given and returns them unchanged. No
// value holds a secret (Finding.Secret is never encoded).
//
//   - A layer result is LayerResult.MarshalBinary's bytes, with its
//     listing (LayerResult.MarshalListing's bytes) beside it. LayerResults
//     decodes with LayerResult.UnmarshalBinary and returns the keys it
//     holds (a missing or undecodable entry is a miss, not an error; the
//     next PutLayerResult overwrites it). LayerListing returns the listing
//     bytes stored with a result, nil if none. Store only results whose
//     Verified is true (Run and fleets do; the key then names content
//     that was checked against it).
//   - A text result (config texts or an attestation blob, keyed by the
//     sha256 of the texts) is an encoded list of redacted matches:
//     PutTextResult's matches bytes are what TextResult must return, with
//     ok true; ok false when there is none.
//
// Methods must be safe for concurrent use.
type ResultStore interface {
	LayerResults(ctx context.Context, keys []string, ruleset string) (map[string]*LayerResult, error)
	PutLayerResult(ctx context.Context, key, ruleset string, r *LayerResult) error
	LayerListing(ctx context.Context, key, ruleset string) ([]byte, error)
	TextResult(ctx context.Context, key, ruleset string) (matches []byte, ok bool, err error)
	PutTextResult(ctx context.Context, key, ruleset string, matches []byte) error
}

// check validates the options every phase needs.
func (o *Options) check() error {
	if o.Engine == nil {
		return ErrNoEngine
	}
	if o.MinConfidence != "" && secret.ConfidenceRank(o.MinConfidence) == 0 {
		return fmt.Errorf("%w: %q", ErrBadConfidence, o.MinConfidence)
	}
	return nil
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// ScanLayer fetches one layer from job.Store, verifies it as it reads
// (blob digest and size; for a blob digest that is not sha256, the
// config's diff_id) and walks it with opts.Engine (compiled on first use).
// It does not read or write opts.Results: the caller stores the result
// (only if Verified). opts.Progress, if set, gets this layer's compressed
// bytes read and its size.
func ScanLayer(ctx context.Context, job LayerJob, opts Options) (*LayerResult, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	var progress func(int64)
	if opts.Progress != nil {
		size := job.Layer.Descriptor.Size
		progress = func(n int64) { opts.Progress(n, size) }
	}
	return scanLayer(ctx, job, opts, opts.logger(), progress)
}

// scanLayer is ScanLayer with a progress callback of the layer's bytes.
func scanLayer(ctx context.Context, job LayerJob, opts Options, log *slog.Logger, progress func(int64)) (*LayerResult, error) {
	if err := opts.Engine.Compile(); err != nil {
		return nil, fmt.Errorf("compile the secret rules: %w", err)
	}
	start := time.Now()
	w := &walker{job: job, eng: opts.Engine, maxBytes: opts.MaxLayerBytes, progress: progress}
	lr, err := w.run(ctx)
	if err != nil {
		return nil, err
	}
	log.Debug("layer scanned", "layer", job.Key, "files", lr.Files, "bytes", lr.Bytes, "findings", len(lr.matches), "took", time.Since(start))
	return lr, nil
}

// Assemble turns the plan and each layer's result (by LayerJob.Key) into
// findings: each match placed in every image holding its layer, with its
// overlay state; the configs' texts and the attestations scanned (their
// results read from and stored in opts.Results when set); coverage
// summed. A result without its listing (one from LayerResults) gets it
// from opts.Results.LayerListing when a finding's state needs it. Layers
// without a result are left out and reported with ErrMissingLayers after
// the rest is assembled; Assemble returns what it has with any error.
func Assemble(ctx context.Context, p *Plan, results map[string]*LayerResult, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	a := &assembler{opts: opts, log: opts.logger(), eng: opts.Engine, plan: p, results: results, res: &Result{}}
	a.coverage()
	a.images(ctx)
	a.res.Findings = filterConfidence(a.res.Findings, opts.MinConfidence)
	if a.err == nil {
		a.err = a.missing()
	}
	return a.res, a.err
}
