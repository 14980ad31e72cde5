package store

import (
	"errors"
	"time"

	"github.com/stratascan/strata/image"
)

// ErrBadFilter: a Filter field holds a value the store does not know.
var ErrBadFilter = errors.New("store: bad findings filter")

// ErrBadRecord: an ImageRecord misses a registry, repository or manifest.
var ErrBadRecord = errors.New("store: incomplete image record")

// ErrNotFound: no such image in the store.
var ErrNotFound = errors.New("store: not found")

// ImageRecord is one scanned image manifest as the fleet's jobs record it.
type ImageRecord struct {
	// Registry is the registry host ("registry.example:5000").
	Registry string
	// Repository is the repository name in the registry ("team/app").
	Repository string
	// Tags are tags that reference the image now (may be empty: SyncTags
	// keeps the tag list; these are added or moved to Root).
	Tags []string
	// Manifest is the scanned image manifest's digest.
	Manifest image.Digest
	// Root is the digest the tags reference: the index holding Manifest for
	// a platform image of a multi-platform image; empty means Manifest.
	Root image.Digest
	// Platform is "os/arch[/variant]" ("" when unknown).
	Platform string
	// Layers are the manifest's layers in order.
	Layers []LayerRef
	// Ruleset is the hash of the ruleset the image was scanned with.
	Ruleset string
}

// LayerRef is one layer of a manifest.
type LayerRef struct {
	Index int
	// Digest is the verified blob digest: the key of the layer's result.
	Digest image.Digest
	// DiffID is the uncompressed digest as the walk read it.
	DiffID image.Digest
	// Size is the compressed blob size.
	Size int64
	// CreatedBy is the build step from the image config's history.
	CreatedBy string
}

// Status values of Filter.Status.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
)

// Filter selects findings; empty fields match everything.
type Filter struct {
	Registry, Repository, Rule, Severity, State, Fingerprint string
	// Manifest restricts to one image manifest.
	Manifest image.Digest
	// Status is StatusOpen, StatusResolved or "" (both).
	Status string
	// Limit bounds the rows returned (0: 100; at most 1000); Offset skips.
	Limit, Offset int
}

// Paging bounds of Filter.Limit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// FindingRow is one finding in one image manifest of one repository.
type FindingRow struct {
	ID         int64
	Registry   string
	Repository string
	Manifest   image.Digest
	Platform   string
	// Tags are the repository's tags that reference the manifest now.
	Tags []string

	Rule        string
	Description string
	Severity    string
	Kind        string
	// Layer is the layer index, nil for config and attestation findings.
	Layer       *int
	LayerDigest image.Digest
	DiffID      image.Digest
	Path        string
	Line        int
	State       string
	HiddenBy    *int
	CreatedBy   string
	Redacted    string
	Fingerprint string
	Encoding    string
	Confidence  string
	Validation  string
	Context     string

	FirstSeen  time.Time
	LastSeen   time.Time
	ResolvedAt *time.Time
}

// Open reports whether the finding is open (not resolved).
func (r FindingRow) Open() bool { return r.ResolvedAt == nil }

// Overview is the dashboard's summary.
type Overview struct {
	// Leaking are the repositories with open findings, most open first.
	Leaking []RepositoryLeaks
	// NewThisWeek counts findings first seen in the 7 days before now;
	// ResolvedThisWeek those resolved in them.
	NewThisWeek, ResolvedThisWeek int
	// Open and Resolved count all findings by status.
	Open, Resolved int
	// OpenBySeverity counts open findings by severity.
	OpenBySeverity map[string]int
	// Registries, Repositories and Images count what the store holds.
	Registries, Repositories, Images int
}

// RepositoryLeaks is one repository's open findings.
type RepositoryLeaks struct {
	Registry, Repository string
	// Images counts the manifests with open findings; Findings the open
	// findings; Fingerprints the distinct secrets.
	Images, Findings, Fingerprints int
	// Tags are the tags of the leaking manifests.
	Tags []string
	// Manifests are the leaking manifests, most open findings first.
	Manifests []LeakingImage
}

// LeakingImage is one manifest with open findings.
type LeakingImage struct {
	Manifest image.Digest
	Platform string
	// Tags reference the manifest now (directly or through its index).
	Tags []string
	// Findings counts its open findings.
	Findings int
}

// ImageView is one image manifest for the image page: its layers in order
// with their build steps, and its findings.
type ImageView struct {
	Registry, Repository string
	Manifest             image.Digest
	Root                 image.Digest
	Platform             string
	Ruleset              string
	ScannedAt            time.Time
	Tags                 []string
	Layers               []LayerRef
	Findings             []FindingRow
}

// Stats are the store's counters for /metrics.
type Stats struct {
	// Layers counts the distinct layer results stored; LayerScans the real
	// scans (a layer rescanned under a new ruleset counts again).
	Layers, LayerScans int64
	// BytesRead sums the uncompressed bytes the stored scans read; Files
	// the files they walked.
	BytesRead, Files int64
	// Images counts the scanned manifests.
	Images int64
	// OpenBySeverity counts open findings by severity; Resolved all
	// resolved findings.
	OpenBySeverity map[string]int64
	Resolved       int64
}
