package fleet

import (
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/stratascan/strata/image"
)

// Job kinds, as River stores them.
const (
	KindEnumerate = "strata_enumerate_registry"
	KindResolve   = "strata_resolve_manifest"
	KindScanLayer = "strata_scan_layer"
	KindAssemble  = "strata_assemble_image"
	KindSweep     = "strata_sweep"
)

// Kinds lists every job kind of the fleet.
var Kinds = []string{KindSweep, KindEnumerate, KindResolve, KindScanLayer, KindAssemble}

// Priorities (River's 1 is worked first): layers before the images that
// wait on them, so a sweep's images complete one after another; a pushed
// or requested reference before the references a sweep found.
const (
	priorityScanLayer = 1
	priorityAssemble  = 2
	priorityPush      = 2
	priorityResolve   = 3
	priorityEnumerate = 4
)

// pendingStates are the states in which a job has yet to finish: a second
// insert of the same unique args while one is in them is skipped, while a
// finished job does not stop a later run (the next sweep, the next push).
var pendingStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// EnumerateArgs lists a registry: with Repository empty its catalog (one
// enumerate job per repository under Prefix follows), else that
// repository's tags.
type EnumerateArgs struct {
	Registry   string `json:"registry" river:"unique"`
	Prefix     string `json:"prefix,omitempty" river:"unique"`
	Repository string `json:"repository,omitempty" river:"unique"`
}

// Kind is the River job kind.
func (EnumerateArgs) Kind() string { return KindEnumerate }

// InsertOpts: one pending enumeration of a registry or repository at a time.
func (EnumerateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Priority: priorityEnumerate, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
}

// ResolveArgs loads one reference (Registry/Repository, Tag or Manifest)
// and plans its scan.
type ResolveArgs struct {
	Registry   string       `json:"registry" river:"unique"`
	Repository string       `json:"repository" river:"unique"`
	Tag        string       `json:"tag,omitempty" river:"unique"`
	Manifest   image.Digest `json:"manifest,omitempty" river:"unique"`
}

// Kind is the River job kind.
func (ResolveArgs) Kind() string { return KindResolve }

// InsertOpts: a reference waiting to be resolved is not queued twice.
func (ResolveArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Priority: priorityResolve, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
}

// ScanLayerArgs scans one layer, fetched from the image Ref holds it.
type ScanLayerArgs struct {
	Key     string      `json:"key" river:"unique"`
	Ruleset string      `json:"ruleset" river:"unique"`
	Ref     string      `json:"ref"`
	Layer   image.Layer `json:"layer"`
	What    string      `json:"what"`
}

// Kind is the River job kind.
func (ScanLayerArgs) Kind() string { return KindScanLayer }

// InsertOpts: unique by key and ruleset over every state, so a layer is
// scanned once per ruleset across the fleet (the worker also checks the
// store, for layers whose job River has since cleaned away).
func (ScanLayerArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Priority: priorityScanLayer, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: rivertype.JobStates()}}
}

// AssembleArgs turns one reference's layer results into its findings once
// they are all in the store.
type AssembleArgs struct {
	Registry   string       `json:"registry" river:"unique"`
	Repository string       `json:"repository" river:"unique"`
	Tag        string       `json:"tag,omitempty" river:"unique"`
	Manifest   image.Digest `json:"manifest" river:"unique"`
	// Layers are the keys of the layers the resolve job planned: while
	// one has no result the job waits without reading the registry.
	Layers []string `json:"layers,omitempty"`
}

// Kind is the River job kind.
func (AssembleArgs) Kind() string { return KindAssemble }

// InsertOpts: one pending assembly per reference.
func (AssembleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Priority: priorityAssemble, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
}

// SweepArgs enumerates every registry listed.
type SweepArgs struct {
	Registries []string `json:"registries" river:"unique"`
	// Reason says why the sweep runs: "periodic", "ruleset", "request".
	Reason string `json:"reason,omitempty"`
}

// Kind is the River job kind.
func (SweepArgs) Kind() string { return KindSweep }

// InsertOpts: one pending sweep at a time.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Priority: priorityEnumerate, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
}

// refOf names a reference for the registry client and in logs:
// "host/repo@digest" when the manifest is known, else "host/repo:tag".
func refOf(registry, repository, tag string, manifest image.Digest) string {
	if manifest != "" {
		return registry + "/" + repository + "@" + string(manifest)
	}
	return registry + "/" + repository + ":" + tag
}
