// Package fleet scans every image of every configured registry continuously,
// on River (github.com/riverqueue/river): a job queue in the findings store's
// own database, SQLite (riversqlite, the embedded default) or Postgres
// (riverpgxv5, where any number of worker processes on any number of
// machines share the queue).
//
// # Jobs
//
// Five job kinds, each a River job args type:
//
//   - strata_enumerate_registry (EnumerateArgs): a registry's catalog, then
//     one such job per repository, which lists its tags (paginated, capped
//     by the registry client's MaxTags), resolves each to its manifest
//     digest, records them with store.SyncTags (vanished tags resolve their
//     findings) and enqueues a resolve_manifest job per tag.
//   - strata_resolve_manifest (ResolveArgs): loads the reference's manifest
//     tree (index children, BuildKit caches, attestations in the index, OCI
//     referrers that are attestations), plans the scan (scan.NewPlan) and
//     enqueues one scan_layer job per layer the store holds no result for,
//     then one assemble_image job.
//   - strata_scan_layer (ScanLayerArgs): unique by layer key and ruleset
//     hash over every job state, so a layer shared by many images is
//     scanned once per ruleset across the fleet; it re-checks the store
//     first, scans with scan.ScanLayer and stores the result.
//   - strata_assemble_image (AssembleArgs): snoozes (River's JobSnooze)
//     while a layer result is missing, then scan.Assemble and
//     store.RecordImage for each image of the reference.
//   - strata_sweep (SweepArgs): enumerates every configured registry; a
//     River periodic job every Config.Sweep, and enqueued on Start when the
//     store's recorded ruleset hash differs from the engine's (a rescan of
//     everything with the new rules).
//
// Jobs are worked by River priority: layers, then the images waiting on
// them and references pushed or asked for, then references a sweep found,
// then enumerations.
//
// Retries with backoff, timeouts, uniqueness, periodic scheduling, rescue
// of jobs whose worker died (Config.RescueAfter) and graceful stop are
// River's; this package writes none of them.
//
// # Service
//
//	svc, err := fleet.New(ctx, fleet.Config{Store: st, Engine: eng, Registries: []string{"registry.example"},
//		Sweep: time.Hour, Workers: 4})
//	err = svc.Start(ctx)               // workers and the periodic sweep
//	err = svc.EnqueueRef(ctx, "registry.example/app:1.0")
//	err = svc.Stop(ctx)                // jobs in flight finish, or are released after Config.StopGrace
//
// A Service with Workers 0 only inserts jobs (an API front end beside
// separate worker processes). Every process sharing a queue should be given
// the same Registries and Sweep: River runs periodic jobs on its elected
// leader, which may be any of them.
package fleet
