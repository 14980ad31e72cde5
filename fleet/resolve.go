package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/source"
)

// opened is a reference's manifest tree and its attestation referrers, as
// scan targets; the first target is the reference itself.
type opened struct {
	name    string       // host/repository
	root    image.Digest // the manifest (or index) the reference resolved to
	targets []scan.Target
	stores  []content.Store
}

func (o *opened) Close() {
	for _, st := range o.stores {
		st.Close()
	}
}

// display names the reference in findings: by tag when it has one.
func display(registry, repository, tag string, manifest image.Digest) string {
	if tag != "" {
		return registry + "/" + repository + ":" + tag
	}
	return refOf(registry, repository, tag, manifest)
}

// open loads a reference's manifest tree (every platform, BuildKit caches,
// attestations in an index) and the attestations that refer to its
// manifests through the OCI referrers API or its fallback tag.
func (s *Service) open(ctx context.Context, registry, repository, tag string, manifest image.Digest) (*opened, error) {
	o := &opened{name: registry + "/" + repository}
	ref := refOf(registry, repository, tag, manifest)
	st, err := s.reg.Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	o.stores = append(o.stores, st)
	root, err := source.LoadWith(ctx, st, source.LoadOptions{Logger: s.log})
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("load %s: %w", ref, err)
	}
	imgs, err := source.Select(root, nil, true)
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	o.root = root.Descriptor.Digest
	disp := display(registry, repository, tag, o.root)
	o.targets = append(o.targets, scan.Target{Ref: disp, Store: st, Root: root, Images: imgs})
	if err := s.referrers(ctx, o, disp, root, imgs); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// referrers adds, as targets, the attestation manifests that name the root
// or one of the selected images as their subject and are not in the tree.
func (s *Service) referrers(ctx context.Context, o *opened, disp string, root *image.Node, imgs []*image.Image) error {
	repo, err := s.reg.Repo(ctx, o.name)
	if err != nil {
		return err
	}
	inTree := map[image.Digest]bool{}
	for _, im := range root.Images() {
		inTree[im.Manifest.Digest] = true
	}
	subjects := []image.Digest{o.root}
	for _, im := range imgs {
		if im.Manifest.Digest != o.root {
			subjects = append(subjects, im.Manifest.Digest)
		}
	}
	for _, subj := range subjects {
		descs, _, err := repo.Referrers(ctx, subj, "")
		if err != nil {
			return err
		}
		for _, d := range descs {
			if inTree[d.Digest] {
				continue
			}
			inTree[d.Digest] = true
			if t, ok := s.referrer(ctx, o, disp, d); ok {
				o.targets = append(o.targets, t)
			}
		}
	}
	return nil
}

// referrer loads one referrer; only attestations are scanned (signatures
// and other artifacts hold no filesystem or build record).
func (s *Service) referrer(ctx context.Context, o *opened, disp string, d image.Descriptor) (scan.Target, bool) {
	st, err := s.reg.Open(ctx, o.name+"@"+string(d.Digest))
	if err != nil {
		s.log.Warn("fleet: referrer not readable; skipped", "referrer", d.Digest, "of", disp, "err", err)
		return scan.Target{}, false
	}
	o.stores = append(o.stores, st)
	rroot, err := source.LoadWith(ctx, st, source.LoadOptions{Logger: s.log})
	if err != nil {
		s.log.Warn("fleet: referrer not loadable; skipped", "referrer", d.Digest, "of", disp, "err", err)
		return scan.Target{}, false
	}
	var atts []*image.Image
	for _, im := range rroot.Images() {
		if im.Kind == image.KindAttestation {
			atts = append(atts, im)
		}
	}
	if len(atts) == 0 {
		return scan.Target{}, false
	}
	return scan.Target{Ref: disp, Store: st, Root: rroot, Images: atts}, true
}

// resolveWorker plans a reference's scan: a scan_layer job per layer the
// store has no result for, then an assemble_image job.
type resolveWorker struct {
	river.WorkerDefaults[ResolveArgs]
	s *Service
}

func (w *resolveWorker) Work(ctx context.Context, job *river.Job[ResolveArgs]) (err error) {
	defer w.s.observe(KindResolve, time.Now(), &err)
	a := job.Args
	o, err := w.s.open(ctx, a.Registry, a.Repository, a.Tag, a.Manifest)
	if err != nil {
		return err
	}
	defer o.Close()
	plan := scan.NewPlan(o.targets)
	missing, err := w.s.missingLayers(ctx, plan)
	if err != nil {
		return err
	}
	args := w.s.scanLayerArgs(o, missing)
	args = append(args, AssembleArgs{Registry: a.Registry, Repository: a.Repository, Tag: a.Tag, Manifest: o.root, Layers: plan.Keys()})
	w.s.log.Debug("fleet: resolved", "ref", o.targets[0].Ref, "manifest", o.root, "layers", len(plan.Layers()), "to scan", len(missing))
	return w.s.insertMany(ctx, args)
}

// missingLayers returns the plan's layers the store has no result for
// (with the engine's ruleset).
func (s *Service) missingLayers(ctx context.Context, plan *scan.Plan) ([]scan.LayerJob, error) {
	_, missing, err := s.layerResults(ctx, plan, nil)
	return missing, err
}

// layerResults returns the results the store has for the plan's layers and
// the layers it has none for. known holds results already read (by key);
// only the other keys are asked for.
func (s *Service) layerResults(ctx context.Context, plan *scan.Plan, known map[string]*scan.LayerResult) (map[string]*scan.LayerResult, []scan.LayerJob, error) {
	have := make(map[string]*scan.LayerResult, len(known))
	var ask []string
	for _, k := range plan.Keys() {
		if r := known[k]; r != nil {
			have[k] = r
		} else {
			ask = append(ask, k)
		}
	}
	if len(ask) > 0 {
		got, err := s.cfg.Store.LayerResults(ctx, ask, s.ruleset)
		if err != nil {
			return nil, nil, fmt.Errorf("read layer results: %w", err)
		}
		for k, r := range got {
			have[k] = r
		}
	}
	var missing []scan.LayerJob
	for _, lj := range plan.Layers() {
		if have[lj.Key] == nil {
			missing = append(missing, lj)
		}
	}
	return have, missing, nil
}

// scanLayerArgs turns layers into scan_layer jobs fetching them from the
// resolved reference's repository.
func (s *Service) scanLayerArgs(o *opened, layers []scan.LayerJob) []river.JobArgs {
	args := make([]river.JobArgs, 0, len(layers)+1)
	for _, lj := range layers {
		args = append(args, ScanLayerArgs{Key: lj.Key, Ruleset: s.ruleset, Ref: o.name + "@" + string(o.root), Layer: lj.Layer, What: lj.What})
	}
	return args
}
