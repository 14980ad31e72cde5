package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/verify"
)

// ErrNoEngine: Options.Engine is nil.
var ErrNoEngine = errors.New("scan: no secret engine")

// ErrBadConfidence: Options.MinConfidence is not a known confidence.
var ErrBadConfidence = errors.New("scan: unknown confidence (use format or keyword)")

// Options configure Run.
type Options struct {
	// Engine is the compiled ruleset (required).
	Engine *secret.Engine
	// Results, when set, supplies and stores per-layer and config-text
	// results (a *Cache, or a fleet's findings store). Leave it nil for
	// none: never a nil *Cache in a non-nil interface.
	Results ResultStore
	// LayerConcurrency bounds the layers walked at once (default 2). Each
	// walk has one scan worker, so a single layer also uses two cores.
	LayerConcurrency int
	// MaxLayerBytes caps the uncompressed bytes of one layer (0: no cap).
	MaxLayerBytes int64
	// KeepSecrets fills Finding.Secret (for --show-secrets). Results hold
	// no secret values, so they are then not read (walks are still stored).
	KeepSecrets bool
	// MinConfidence, if set ("format" or "keyword"), drops findings of a
	// lower confidence (secret.ConfidenceRank).
	MinConfidence string
	// Logger receives progress at debug level (nil: discard).
	Logger *slog.Logger
	// Progress, if set, is called as layers stream with the compressed
	// bytes read so far and the total of the layers Results could not
	// answer (ScanLayer: of its one layer). It must be safe for concurrent
	// use.
	Progress func(read, total int64)
}

// Target is one image reference to scan.
type Target struct {
	// Ref names the image as the user gave it ("registry.example/app:1.0").
	Ref string
	// Store serves the manifests and blobs.
	Store content.Store
	// Root is the loaded manifest tree (source.Load); attestations in it that
	// describe a selected image are scanned too.
	Root *image.Node
	// Images are the selected images (source.Select): platform images,
	// BuildKit cache images, schema 1 images.
	Images []*image.Image
}

// Finding is one secret in one place.
type Finding struct {
	Rule        string       `json:"rule"`
	Description string       `json:"description"`
	Severity    string       `json:"severity"`
	Image       string       `json:"image"`
	Manifest    image.Digest `json:"manifest"`
	Kind        image.Kind   `json:"kind"`
	Platform    string       `json:"platform,omitempty"`
	// Layer is the layer index, nil for config and attestation findings.
	Layer       *int         `json:"layer"`
	LayerDigest image.Digest `json:"layerDigest,omitempty"`
	DiffID      image.Digest `json:"diffID,omitempty"`
	// Path is the file path in the layer (archive members "a.jar!x/y"), or
	// config:env, config:label, config:cmd, config:entrypoint,
	// config:history[N], attestation:<blob digest>.
	Path string `json:"path"`
	Line int    `json:"line"`
	// State is present, overwritten or deleted (config findings: present).
	State overlay.State `json:"state"`
	// HiddenBy is the layer that overwrote or deleted the file.
	HiddenBy    *int    `json:"hiddenBy"`
	CreatedBy   string  `json:"createdBy,omitempty"`
	Redacted    string  `json:"redacted"`
	Fingerprint string  `json:"fingerprint"`
	Entropy     float64 `json:"entropy,omitempty"`
	// Encoding is how the secret was encoded where it was found (base64,
	// base64url, json-escape, percent, utf-16le, utf-16be; chained with "+",
	// outermost first); empty for plain text. Line points at the encoded
	// text, Redacted and Fingerprint are of the decoded value.
	Encoding string `json:"encoding,omitempty"`
	// Confidence is "format" (the value matched a provider's exact format
	// or checksum) or "keyword" (a key name plus the value's shape).
	Confidence string `json:"confidence"`
	// Validation is the rule's format check and its verdict, such as
	// "github-crc32: valid"; empty when the rule has none.
	Validation string `json:"validation,omitempty"`
	// Context is "example" for documentation, test fixtures and examples
	// of installed packages (severity low unless a checksum passed).
	Context string `json:"context,omitempty"`
	// Secret is set only with Options.KeepSecrets.
	Secret      string `json:"secret,omitempty"`
	Remediation string `json:"remediation"`
	// Verification is the provider's verdict on the secret, set only when
	// verification was asked for (VerifyCandidates, ApplyVerification).
	Verification *verify.Result `json:"verification,omitempty"`
}

// Skip is a file that was not (fully) scanned, and why.
type Skip struct {
	Layer  image.Digest `json:"layer"` // blob digest
	Path   string       `json:"path"`
	Reason string       `json:"reason"`
}

// Coverage says what was scanned.
type Coverage struct {
	Images          int   `json:"images"`
	Layers          int   `json:"layers"`          // distinct layers (by blob digest)
	LayersFromCache int   `json:"layersFromCache"` // of those, answered by the cache
	LayerRefs       int   `json:"layerRefs"`       // layers counted once per image
	Files           int64 `json:"files"`           // regular files in the distinct layers
	FilesScanned    int64 `json:"filesScanned"`
	BinarySkipped   int64 `json:"binarySkipped"`
	ArchiveMembers  int64 `json:"archiveMembers"`
	Bytes           int64 `json:"bytes"`        // content bytes scanned
	LayerBytes      int64 `json:"layerBytes"`   // uncompressed bytes of the walked layers
	ConfigTexts     int   `json:"configTexts"`  // config fields and history entries scanned
	Attestations    int   `json:"attestations"` // attestation blobs scanned
	// Skipped lists binary files and partly scanned ones (limits, timeouts,
	// nesting, corrupt archives).
	Skipped []Skip `json:"skipped,omitempty"`
	// NotScanned lists layers and blobs that could not be scanned as
	// filesystems (artifact layers), by digest.
	NotScanned []Skip `json:"notScanned,omitempty"`
	// Mismatched lists layers whose content does not match the diff_id the
	// image's config claims for them. Their content, verified against the
	// manifest's blob digest, was scanned all the same: a config cannot make
	// a layer look like another one.
	Mismatched []Skip `json:"mismatched,omitempty"`
}

// Result is what Run found.
type Result struct {
	Findings []Finding `json:"findings"`
	Coverage Coverage  `json:"coverage"`
}

// entryRec is one tar entry of a layer's listing, in tar order: its path,
// type, hard link target, and whether it is unsafe (never applied: it
// hides nothing, but it is kept so that positions match the tar stream).
type entryRec struct {
	P string `json:"p"`
	T uint8  `json:"t"`
	L string `json:"l,omitempty"`
	U bool   `json:"u,omitempty"`
}

type fileMatch struct {
	File  string       `json:"file"` // the layer entry (archive members: the archive)
	Match secret.Match `json:"m"`
}

type skipRec struct {
	Path   string `json:"p"`
	Reason string `json:"r"`
}

// layerKey identifies a layer by its compressed blob digest, which the
// walk verifies as it reads, never by the config's diff_id: a config may
// claim the diff_id of a clean layer for a blob that holds a secret. A
// ResultStore maps the blob to the diff_id and result its walk produced;
// LayerJob.Key is this key.
func layerKey(l image.Layer) string {
	return string(l.Descriptor.Digest)
}

// fsKinds are the image kinds whose layers are tar filesystems.
func fsKind(k image.Kind) bool {
	return k == image.KindImage || k == image.KindSchema1 || k == image.KindCache
}

// Run scans every layer of every target image (each distinct layer once),
// their configs and attestations, and returns the findings with their
// state in each image. On error (a layer that fails verification, a
// cancelled context) it returns what it has with the error.
//
// Run composes the phases: NewPlan, one Options.Results.LayerResults query,
// ScanLayer for the layers the store could not answer (up to
// Options.LayerConcurrency at once; verified walks are stored with
// PutLayerResult), then Assemble.
func Run(ctx context.Context, targets []Target, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if opts.LayerConcurrency <= 0 {
		opts.LayerConcurrency = 2
	}
	plan := NewPlan(targets)
	r := &runner{opts: opts, log: opts.logger(), results: map[string]*LayerResult{}}
	r.lookup(ctx, plan.Layers())
	walkErr := r.scanMisses(ctx, plan.Layers())
	res, err := Assemble(ctx, plan, r.results, opts)
	if walkErr != nil {
		err = walkErr // a failed walk is why layers are missing: say so first
	}
	if err == nil {
		err = ctx.Err()
	}
	return res, err
}

// runner holds Run's state between its phases.
type runner struct {
	opts    Options
	log     *slog.Logger
	mu      sync.Mutex
	results map[string]*LayerResult

	progressTotal int64        // compressed bytes of the layers to walk
	progressRead  atomic.Int64 // compressed bytes read so far, all layers
}

// lookup takes the results Options.Results already holds, in one query.
// The store holds no secret values, so with KeepSecrets it is not read.
func (r *runner) lookup(ctx context.Context, jobs []LayerJob) {
	if r.opts.Results == nil || r.opts.KeepSecrets || len(jobs) == 0 {
		return
	}
	keys := make([]string, len(jobs))
	for i, j := range jobs {
		keys[i] = j.Key
	}
	got, err := r.opts.Results.LayerResults(ctx, keys, r.opts.Engine.RulesetHash())
	if err != nil {
		r.log.Warn("scan result store unusable, scanning without it", "err", err)
	}
	for _, j := range jobs {
		if lr := got[j.Key]; lr != nil {
			r.log.Debug("layer from the result store", "layer", j.Key)
			lr.FromCache = true
			r.results[j.Key] = lr
		}
	}
}

// scanMisses walks the layers lookup did not answer, stores the verified
// walks, and reports progress over all of them.
func (r *runner) scanMisses(ctx context.Context, jobs []LayerJob) error {
	var todo []LayerJob
	for _, j := range jobs {
		if r.results[j.Key] == nil {
			todo = append(todo, j)
			r.progressTotal += max(j.Layer.Descriptor.Size, 0)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.LayerConcurrency)
	for _, j := range todo {
		g.Go(func() error {
			lr, err := scanLayer(gctx, j, r.opts, r.log, r.progress())
			if err != nil {
				return err
			}
			r.store(gctx, j.Key, lr)
			r.mu.Lock()
			r.results[j.Key] = lr
			r.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// progress returns one walk's progress callback (nil without
// Options.Progress): it adds the walk's bytes to the run's total.
func (r *runner) progress() func(int64) {
	if r.opts.Progress == nil {
		return nil
	}
	var last int64
	return func(n int64) {
		r.opts.Progress(r.progressRead.Add(n-last), r.progressTotal)
		last = n
	}
}

// store keeps a walk's result in Options.Results. Only a blob the walk
// verified may answer for its digest later.
func (r *runner) store(ctx context.Context, key string, lr *LayerResult) {
	if r.opts.Results == nil || !lr.verified {
		return
	}
	if err := r.opts.Results.PutLayerResult(ctx, key, r.opts.Engine.RulesetHash(), lr); err != nil {
		r.log.Warn("could not store the layer result", "layer", key, "err", err)
	}
}

// filterConfidence keeps the findings at or above min ("" keeps all).
func filterConfidence(fs []Finding, min string) []Finding {
	if min == "" {
		return fs
	}
	rank := secret.ConfidenceRank(min)
	kept := fs[:0]
	for _, f := range fs {
		if secret.ConfidenceRank(f.Confidence) >= rank {
			kept = append(kept, f)
		}
	}
	return kept
}

// remediation is the hint for one finding.
func remediation(im *image.Image, f *Finding) string {
	const rotate = "Rotate this secret now: anyone who can pull the image can read it. "
	switch {
	case strings.HasPrefix(f.Path, "attestation:"):
		return rotate + "The build attestation (provenance) records it, most likely as a build argument: pass it with RUN --mount=type=secret instead, rebuild, and remove the old manifest and its attestation with `strata purge`."
	case strings.HasPrefix(f.Path, "config:history"):
		return rotate + "It is recorded in the image history (a build argument or a RUN command line): use RUN --mount=type=secret, rebuild, and remove the old manifests with `strata purge`."
	case strings.HasPrefix(f.Path, "config:"):
		return rotate + "It is in the image config, which ships with every pull: provide it at run time instead, rebuild, and remove the old manifests with `strata purge`."
	case im.Kind == image.KindCache:
		return rotate + "It is in a BuildKit cache layer: use RUN --mount=type=secret so it never reaches a layer, and delete the cache tag with `strata purge`."
	case f.State != overlay.Present:
		return rotate + fmt.Sprintf("It is %s in the final filesystem but still stored in layer %d: deleting a file in a later step does not remove it. Use RUN --mount=type=secret (or a multi-stage build), rebuild, and remove the old manifests with `strata purge`.", f.State, *f.Layer)
	default:
		return rotate + "Remove it from the image (RUN --mount=type=secret for build-time use, a runtime secret otherwise), rebuild, and remove the old manifests with `strata purge`."
	}
}
