package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/stratascan/strata/scan"
)

// scanLayerWorker scans one layer, once per ruleset across the fleet.
type scanLayerWorker struct {
	river.WorkerDefaults[ScanLayerArgs]
	s *Service
}

// ErrRulesetMismatch: a scan_layer job asks for another ruleset than this
// worker's engine has (workers of different rule versions share a queue);
// River retries it, on any worker.
var ErrRulesetMismatch = fmt.Errorf("fleet: scan_layer job for another ruleset")

func (w *scanLayerWorker) Work(ctx context.Context, job *river.Job[ScanLayerArgs]) (err error) {
	defer w.s.observe(KindScanLayer, time.Now(), &err)
	a := job.Args
	s := w.s
	if a.Ruleset != s.ruleset {
		return fmt.Errorf("%w: job %s, this worker %s (give every worker the same rules)", ErrRulesetMismatch, a.Ruleset, s.ruleset)
	}
	// The job is unique while River keeps it; the store also answers for
	// layers scanned before (jobs cleaned since, or scanned by `strata scan`).
	have, err := s.cfg.Store.LayerResults(ctx, []string{a.Key}, a.Ruleset)
	if err != nil {
		return fmt.Errorf("read the result of %s: %w", a.What, err)
	}
	if have[a.Key] != nil {
		s.log.Debug("fleet: layer already scanned", "layer", a.Key)
		return nil
	}
	st, err := s.reg.Open(ctx, a.Ref)
	if err != nil {
		return err
	}
	defer st.Close()
	lr, err := scan.ScanLayer(ctx, scan.LayerJob{Key: a.Key, Store: st, Layer: a.Layer, What: a.What},
		scan.Options{Engine: s.cfg.Engine, MaxLayerBytes: s.cfg.MaxLayerBytes, Logger: s.log})
	if err != nil {
		return fmt.Errorf("scan %s: %w", a.What, err)
	}
	if !lr.Verified() {
		// Only a result checked against its key may be stored under it.
		return river.JobCancel(fmt.Errorf("scan %s: its content could not be verified against %s; not stored", a.What, a.Key))
	}
	if err := s.cfg.Store.PutLayerResult(ctx, a.Key, a.Ruleset, lr); err != nil {
		return fmt.Errorf("store the result of %s: %w", a.What, err)
	}
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.LayerScanned(a.Layer.Descriptor.Size)
	}
	s.log.Debug("fleet: layer scanned", "layer", a.Key, "findings", lr.Findings())
	return nil
}
