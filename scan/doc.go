// Package scan is strata's secret-scanning pipeline: it walks every layer of
// every selected image (deleted and overwritten files included), feeds each
// regular file to a secret.Engine, scans the config (Env, Labels, Cmd,
// Entrypoint, every history created_by and comment) and BuildKit
// attestations, and says for each finding where it is and whether the final
// image still shows it.
//
// # API
//
//	eng, _ := secret.New(secret.Options{...})   // rules compiled on first use
//	cache, _ := scan.OpenCache(ctx, "")          // optional; "" = os.UserCacheDir()/strata
//	defer cache.Close()
//	root, _ := source.Load(ctx, store, log)
//	imgs, _ := source.Select(root, platform, all)
//	res, err := scan.Run(ctx, []scan.Target{{Ref: ref, Store: store, Root: root, Images: imgs}},
//		scan.Options{Engine: eng, Results: cache.Results()})
//
// Run takes several targets at once (--all-tags, --catalog): a layer shared
// by several images, or several tags, is walked once (keyed by its blob
// digest, which the walk verifies) and reported once per image.
//
// Run is a composition of phases that a fleet of workers can run apart:
//
//	plan := scan.NewPlan(targets)            // images to report on, distinct layers
//	results, _ := opts.Results.LayerResults(ctx, plan.Keys(), eng.RulesetHash())
//	for _, job := range plan.Layers() {      // the misses, one job per layer, anywhere
//		if results[job.Key] != nil {
//			continue
//		}
//		lr, _ := scan.ScanLayer(ctx, job, opts) // fetch, verify, walk; stores nothing
//		if lr.Verified() {
//			opts.Results.PutLayerResult(ctx, job.Key, eng.RulesetHash(), lr)
//		}
//		results[job.Key] = lr
//	}
//	res, err := scan.Assemble(ctx, plan, results, opts) // overlay states, config, attestations
//
// A LayerJob's Key is the layer's blob digest, verified by the walk; with
// the ruleset hash it keys a ResultStore (implemented by *Cache, and by
// any shared database). A LayerResult travels between processes as
// MarshalBinary's bytes (its path listing, MarshalListing's, beside it);
// UnmarshalBinary checks every length against the input, so a damaged
// entry is an ErrCorruptResult, never a panic. Assemble reads a stored
// result's listing (ResultStore.LayerListing) only when a finding's state
// needs it, and config texts' and attestations' results from the store.
//
// Attestation manifests in a target's tree that describe a selected image are
// scanned too (location "attestation:<blob digest> (<predicate type>)").
// Every layer of a BuildKit cache image is scanned; a finding's state there
// is "present" if any chain of the cache's graph shows the file.
//
// # Findings
//
// Finding carries rule, severity, image reference and manifest digest,
// platform, layer index (nil for config and attestation findings) with its
// digest and diff_id, path (archive members "outer.zip!inner"; config
// locations config:env, config:label, config:cmd, config:entrypoint,
// config:history[N]), line, state (present | overwritten | deleted, from
// package overlay) with hiddenBy (the layer that hid it), createdBy (the
// layer's history created_by), the redacted match, the fingerprint
// (sha256 of the secret), and a remediation hint. Secret is set only with
// Options.KeepSecrets. Findings are in image order, then layer order, then
// file order; the same secret in several places yields one finding per
// place (group by Fingerprint for a summary).
//
// # Performance
//
// Up to Options.LayerConcurrency layers (default 2) are walked at once. In
// each walk, one goroutine decompresses and verifies the layer (digest and
// diff_id in the same pass, package layer) while a scan worker runs the
// engine on the files, which reach it through bounded chunk pipes (32 MiB in
// flight per layer); binary files are recognised from their first 8 KiB and
// never copied. So even a one-layer image uses two cores.
//
// # Cache
//
// With Options.Results set to a *Cache, each distinct layer's result
// (redacted matches, fingerprints, coverage figures and skipped files;
// separately, the layer's path listing for overlay states) is stored in
// SQLite (modernc.org/sqlite, pure Go) keyed by the layer and secret.Engine.RulesetHash, and reused by
// any later scan of any image holding that layer. The config texts of an
// image and each attestation blob are cached the same way, keyed by the
// sha256 of the texts. RulesetHash is known without compiling the rules and
// Run compiles them (secret.Engine.Compile) only on a cache miss, so a
// fully cached rescan never compiles them; listings are read back only for
// images with findings (and only the entries that can hide one). Secret
// values are never stored: with Options.KeepSecrets the cache is written
// but not read.
//
// # Errors
//
// A layer that fails verification (digest, diff_id, size), cannot be read,
// or exceeds Options.MaxLayerBytes fails the run (the error names the layer);
// Run still returns the findings it has. Assemble given no result for
// some of the plan's layers assembles the rest and returns
// ErrMissingLayers naming them. Per-file limits and timeouts are not
// errors: they are listed in Coverage.Skipped.
package scan
