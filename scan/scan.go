package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
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
	// Cache, when set, supplies and stores per-layer results.
	Cache *Cache
	// LayerConcurrency bounds the layers walked at once (default 2). Each
	// walk has one scan worker, so a single layer also uses two cores.
	LayerConcurrency int
	// MaxLayerBytes caps the uncompressed bytes of one layer (0: no cap).
	MaxLayerBytes int64
	// KeepSecrets fills Finding.Secret (for --show-secrets). The cache holds
	// no secret values, so it is then not read (results are still stored).
	KeepSecrets bool
	// MinConfidence, if set ("format" or "keyword"), drops findings of a
	// lower confidence (secret.ConfidenceRank).
	MinConfidence string
	// Logger receives progress at debug level (nil: discard).
	Logger *slog.Logger
	// Progress, if set, is called as layers stream with the compressed
	// bytes read so far and the total of the layers the cache could not
	// answer. It must be safe for concurrent use.
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

// layerResult is what one layer yields, independent of the image it is in;
// it is what the cache stores (without secret values).
type layerResult struct {
	Entries   []entryRec  `json:"entries"`
	Matches   []fileMatch `json:"matches"`
	Files     int64       `json:"files"`
	Scanned   int64       `json:"scanned"`
	Binary    int64       `json:"binary"`
	Members   int64       `json:"members"`
	Bytes     int64       `json:"bytes"`
	Size      int64       `json:"size"`
	Skips     []skipRec   `json:"skips"`
	FromCache bool        `json:"-"`
	// diffID is the digest of the layer's uncompressed tar as read (the
	// walk's, or the one stored with a cached result), never the config's
	// claim.
	diffID image.Digest
	// listed: Entries holds the listing (a cached result's listing is read
	// only when a finding's state needs it).
	listed bool
	// verified: the walk checked the blob against its (sha256) digest.
	verified bool
}

type work struct {
	key    string
	store  content.Store
	desc   image.Descriptor
	diffID image.Digest
	what   string
}

// layerKey identifies a layer by its compressed blob digest, which the
// walk verifies as it reads, never by the config's diff_id: a config may
// claim the diff_id of a clean layer for a blob that holds a secret. The
// cache maps the blob to the diff_id and result its walk produced.
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
func Run(ctx context.Context, targets []Target, opts Options) (*Result, error) {
	if opts.Engine == nil {
		return nil, ErrNoEngine
	}
	if opts.MinConfidence != "" && secret.ConfidenceRank(opts.MinConfidence) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrBadConfidence, opts.MinConfidence)
	}
	if opts.LayerConcurrency <= 0 {
		opts.LayerConcurrency = 2
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &runner{opts: opts, log: log, eng: opts.Engine, results: map[string]*layerResult{}}
	res := &Result{}

	// Images to report on, and the distinct layers to scan.
	type imgRef struct {
		t  *Target
		im *image.Image
	}
	var imgs []imgRef
	var todo []work
	seen := map[string]bool{}
	for ti := range targets {
		t := &targets[ti]
		sel := map[image.Digest]bool{}
		for _, im := range t.Images {
			sel[im.Manifest.Digest] = true
			imgs = append(imgs, imgRef{t, im})
		}
		if t.Root != nil {
			for _, im := range t.Root.Images() {
				if im.Kind == image.KindAttestation && !sel[im.Manifest.Digest] && sel[im.AttestationFor] {
					imgs = append(imgs, imgRef{t, im})
				}
			}
		}
	}
	for _, ir := range imgs {
		if !fsKind(ir.im.Kind) {
			continue
		}
		for _, l := range ir.im.Layers {
			k := layerKey(l)
			res.Coverage.LayerRefs++
			if seen[k] {
				continue
			}
			seen[k] = true
			todo = append(todo, work{key: k, store: ir.t.Store, desc: l.Descriptor, diffID: l.DiffID,
				what: fmt.Sprintf("layer %d of %s", l.Index, ir.t.Ref)})
		}
	}
	res.Coverage.Images = len(imgs)
	res.Coverage.Layers = len(todo)

	// Cached layers in one query; the rest are walked.
	var cached map[string]*layerResult
	if opts.Cache != nil && !opts.KeepSecrets && len(todo) > 0 {
		keys := make([]string, len(todo))
		for i, w := range todo {
			keys[i] = w.key
		}
		var gerr error
		cached, gerr = opts.Cache.getMany(ctx, keys, r.eng.RulesetHash())
		if gerr != nil {
			log.Warn("scan cache unusable, scanning without it", "err", gerr)
		}
		for k, lr := range cached {
			log.Debug("layer from cache", "layer", k)
			r.results[k] = lr
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.LayerConcurrency)
	for _, w := range todo {
		if cached[w.key] == nil && w.desc.Size > 0 {
			r.progressTotal += w.desc.Size
		}
	}
	for _, w := range todo {
		if cached[w.key] != nil {
			continue
		}
		g.Go(func() error {
			lr, err := r.layer(gctx, w)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.results[w.key] = lr
			r.mu.Unlock()
			return nil
		})
	}
	err := g.Wait()

	nskip := 0
	for _, lr := range r.results {
		nskip += len(lr.Skips)
	}
	if nskip > 0 {
		res.Coverage.Skipped = make([]Skip, 0, nskip)
	}
	for _, w := range todo {
		lr := r.results[w.key]
		if lr == nil {
			continue
		}
		c := &res.Coverage
		if lr.FromCache {
			c.LayersFromCache++
		}
		c.Files += lr.Files
		c.FilesScanned += lr.Scanned
		c.BinarySkipped += lr.Binary
		c.ArchiveMembers += lr.Members
		c.Bytes += lr.Bytes
		c.LayerBytes += lr.Size
		for _, s := range lr.Skips {
			c.Skipped = append(c.Skipped, Skip{Layer: image.Digest(w.key), Path: s.Path, Reason: s.Reason})
		}
	}
	var fsLayers []image.Layer
	for _, ir := range imgs {
		if fsKind(ir.im.Kind) {
			fsLayers = append(fsLayers, ir.im.Layers...)
		}
	}
	res.Coverage.Mismatched = r.mismatches(fsLayers)
	for _, ir := range imgs {
		if ctx.Err() != nil {
			break
		}
		switch {
		case fsKind(ir.im.Kind):
			fs, ferr := r.imageFindings(ctx, ir.t, ir.im)
			res.Findings = append(res.Findings, fs...)
			if ferr != nil && err == nil {
				err = ferr
			}
			fs, ferr = r.configFindings(ctx, ir.t, ir.im, &res.Coverage)
			res.Findings = append(res.Findings, fs...)
			if ferr != nil && err == nil {
				err = ferr
			}
		case ir.im.Kind == image.KindAttestation:
			fs, aerr := r.attestationFindings(ctx, ir.t, ir.im, &res.Coverage)
			res.Findings = append(res.Findings, fs...)
			if aerr != nil && err == nil {
				err = aerr
			}
		default:
			for _, l := range ir.im.Layers {
				res.Coverage.NotScanned = append(res.Coverage.NotScanned, Skip{Layer: l.Descriptor.Digest,
					Reason: fmt.Sprintf("%s layer of a %s manifest %s is not a filesystem", l.Descriptor.MediaType, ir.im.Kind, ir.im.Manifest.Digest)})
			}
		}
	}
	res.Findings = filterConfidence(res.Findings, opts.MinConfidence)
	if err == nil {
		err = ctx.Err()
	}
	return res, err
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

// mismatches reports, once per blob and claim, the layers whose diff_id as
// read differs from the one their config claims.
func (r *runner) mismatches(layers []image.Layer) []Skip {
	var out []Skip
	seen := map[[2]image.Digest]bool{}
	for _, l := range layers {
		lr := r.results[layerKey(l)]
		if lr == nil || lr.diffID == "" || l.DiffID == "" || l.DiffID.Algorithm() != lr.diffID.Algorithm() || l.DiffID == lr.diffID {
			continue
		}
		k := [2]image.Digest{l.Descriptor.Digest, l.DiffID}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, Skip{Layer: l.Descriptor.Digest, Reason: fmt.Sprintf(
			"the config claims diff_id %s but the layer's content is %s: the image is inconsistent (a pull that checks diff_ids refuses it); the content the manifest's digest names was scanned", l.DiffID, lr.diffID)})
	}
	return out
}

type runner struct {
	opts    Options
	log     *slog.Logger
	eng     *secret.Engine
	mu      sync.Mutex
	results map[string]*layerResult

	progressTotal int64        // compressed bytes of the layers to walk
	progressRead  atomic.Int64 // compressed bytes read so far, all layers
}

// layer walks one layer (not in the cache) and stores its result there.
func (r *runner) layer(ctx context.Context, w work) (*layerResult, error) {
	hash := r.eng.RulesetHash()
	if err := r.eng.Compile(); err != nil {
		return nil, fmt.Errorf("compile the secret rules: %w", err)
	}
	start := time.Now()
	lr, err := r.walk(ctx, w)
	if err != nil {
		return nil, err
	}
	lr.listed = true
	r.log.Debug("layer scanned", "layer", w.key, "files", lr.Files, "bytes", lr.Bytes, "findings", len(lr.Matches), "took", time.Since(start))
	// Only a blob the walk verified may answer for its digest later.
	if r.opts.Cache != nil && lr.verified {
		if err := r.opts.Cache.put(ctx, w.key, hash, lr); err != nil {
			r.log.Warn("could not store layer result in the scan cache", "layer", w.key, "err", err)
		}
	}
	return lr, nil
}

type fileJob struct {
	path string
	size int64
	p    *chunkPipe
}

// walk streams one layer blob: the walk (decompression and both digests)
// runs here, file content goes through chunk pipes to one scan worker.
func (r *runner) walk(ctx context.Context, w work) (*layerResult, error) {
	rc, err := w.store.Open(ctx, w.desc)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", w.what, w.desc.Digest, err)
	}
	defer rc.Close()
	lr := &layerResult{}
	var workerSkips []skipRec
	var matches []fileMatch
	var scanned, members, nbytes int64
	jobs := make(chan *fileJob, 256)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		for j := range jobs {
			st, err := r.eng.ScanFile(wctx, j.path, j.size, j.p, func(m secret.Match) {
				matches = append(matches, fileMatch{File: j.path, Match: m})
			})
			j.p.abandon()
			scanned++
			members += int64(st.ArchiveMembers)
			nbytes += st.Bytes
			switch {
			case err != nil && wctx.Err() == nil:
				workerSkips = append(workerSkips, skipRec{j.path, "error: " + err.Error()})
			case st.Skipped || st.SkipReason != "":
				reason := st.SkipReason
				if st.Skipped && !strings.HasPrefix(reason, "binary") && reason != "" {
					reason = "not scanned: " + reason
				}
				workerSkips = append(workerSkips, skipRec{j.path, reason})
			}
		}
	}()
	sem := semaphore.NewWeighted(inFlightBytes)
	head := make([]byte, secret.SniffLen)
	fn := func(e *layer.Entry, body io.Reader) error {
		rec := entryRec{P: e.Path, T: uint8(e.Type), U: e.Unsafe != ""} // unsafe: never applied, hides nothing (its content is scanned)
		if e.Type == layer.TypeHardlink {
			rec.L = e.Linkname
		}
		lr.Entries = append(lr.Entries, rec)
		if e.Type != layer.TypeFile || body == nil {
			return nil
		}
		lr.Files++
		n, err := io.ReadFull(body, head[:min(int64(len(head)), max(e.Size, 0))])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return err
		}
		if !r.eng.Wants(e.Path, head[:n]) {
			lr.Binary++
			lr.Skips = append(lr.Skips, skipRec{e.Path, "binary"})
			return nil
		}
		p := newChunkPipe(sem)
		select {
		case jobs <- &fileJob{path: e.Path, size: e.Size, p: p}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer p.closeWrite()
		if !p.send(wctx, append([]byte(nil), head[:n]...)) {
			return nil
		}
		remaining := e.Size - int64(n)
		for remaining > 0 {
			buf := make([]byte, min(remaining, chunkMax))
			m, err := io.ReadFull(body, buf)
			if m > 0 && !p.send(wctx, buf[:m]) {
				return nil // the scanner is done with this file; the walk drains it
			}
			remaining -= int64(m)
			if err != nil {
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		return nil
	}
	lo := layer.Options{MaxBytes: r.opts.MaxLayerBytes, What: w.what}
	if r.opts.Progress != nil {
		var last int64
		lo.Progress = func(n int64) {
			r.opts.Progress(r.progressRead.Add(n-last), r.progressTotal)
			last = n
		}
	}
	// A sha256 blob digest is verified by the walk, so its content is what
	// the manifest names and is scanned even when the config's diff_id
	// claim is wrong (reported as a mismatch). Any other blob digest
	// leaves the diff_id as the only check: it must hold.
	var enforce image.Digest
	if w.desc.Digest.Algorithm() != "sha256" {
		enforce = w.diffID
	}
	res, werr := layer.Walk(ctx, rc, w.desc, enforce, lo, fn)
	close(jobs)
	if werr != nil {
		cancel()
	}
	<-workerDone
	if werr != nil {
		return nil, werr
	}
	lr.Matches = matches
	lr.Scanned, lr.Members, lr.Bytes = scanned, members, nbytes
	lr.Skips = append(lr.Skips, workerSkips...)
	lr.Size = res.Uncompressed
	lr.diffID = res.DiffID
	lr.verified = res.Digest == w.desc.Digest
	return lr, nil
}

// entries returns a layer's path listing, reading it from the cache if the
// result came from there.
func (r *runner) entries(ctx context.Context, key string, lr *layerResult) ([]entryRec, error) {
	if !lr.listed {
		es, err := r.opts.Cache.listing(ctx, key, r.eng.RulesetHash())
		if err != nil {
			return nil, err
		}
		lr.Entries, lr.listed = es, true
	}
	return lr.Entries, nil
}

// imageFindings places each layer's matches in one image: state, hiding
// layer, build step.
func (r *runner) imageFindings(ctx context.Context, t *Target, im *image.Image) ([]Finding, error) {
	type st struct {
		state    overlay.State
		hiddenBy int
	}
	chains := im.Chains()
	// state of (layer index, file) across the image's chains: present in
	// any chain wins, else the first chain's verdict
	states := map[int]map[string]st{}
	for _, chain := range chains {
		// A match's state depends only on the entries of later layers at its
		// path or at an ancestor of it (overlay.Tree.State), so only those
		// go into the tree, and layers at or below the lowest match are not
		// listed at all (a clean image reads no listing).
		lowest := -1
		paths := map[string]bool{}
		for pos, li := range chain {
			lr := r.results[layerKey(im.Layers[li])]
			if lr == nil || len(lr.Matches) == 0 {
				continue
			}
			if lowest < 0 {
				lowest = pos
			}
			for _, m := range lr.Matches {
				for p := m.File; !paths[p]; {
					paths[p] = true
					if p == "" {
						break
					}
					if i := strings.LastIndexByte(p, '/'); i >= 0 {
						p = p[:i]
					} else {
						p = ""
					}
				}
			}
		}
		if lowest < 0 {
			continue
		}
		tree := overlay.New()
		for pos := lowest + 1; pos < len(chain); pos++ {
			key := layerKey(im.Layers[chain[pos]])
			lr := r.results[key]
			if lr == nil {
				continue
			}
			es, err := r.entries(ctx, key, lr)
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				if paths[e.P] && !e.U {
					tree.Add(pos, &layer.Entry{Path: e.P, Type: layer.Type(e.T)})
				}
			}
		}
		for pos, li := range chain {
			lr := r.results[layerKey(im.Layers[li])]
			if lr == nil {
				continue
			}
			for _, m := range lr.Matches {
				res := tree.State(pos, &layer.Entry{Path: m.File, Type: layer.TypeFile})
				s := st{res.State, -1}
				if res.HiddenBy >= 0 && res.HiddenBy < len(chain) {
					s.hiddenBy = chain[res.HiddenBy]
				}
				if states[li] == nil {
					states[li] = map[string]st{}
				}
				if old, ok := states[li][m.File]; !ok || (old.state != overlay.Present && s.state == overlay.Present) {
					states[li][m.File] = s
				}
			}
		}
	}
	var out []Finding
	for li, l := range im.Layers {
		lr := r.results[layerKey(l)]
		if lr == nil {
			continue
		}
		for _, m := range lr.Matches {
			if r.eng.Ignored(m.Match) {
				continue
			}
			s, ok := states[li][m.File]
			if !ok {
				s = st{overlay.Present, -1} // a cache layer outside every chain
			}
			f := r.finding(t, im, m.Match)
			idx := li
			f.Layer = &idx
			f.LayerDigest, f.DiffID = l.Descriptor.Digest, l.DiffID
			f.State = s.state
			if s.hiddenBy >= 0 {
				h := s.hiddenBy
				f.HiddenBy = &h
			}
			if l.History != nil {
				f.CreatedBy = l.History.CreatedBy
			}
			f.Remediation = remediation(im, &f)
			out = append(out, f)
		}
	}
	return out, nil
}

func (r *runner) finding(t *Target, im *image.Image, m secret.Match) Finding {
	f := Finding{
		Rule: m.RuleID, Description: m.Description, Severity: m.Severity,
		Image: t.Ref, Manifest: im.Manifest.Digest, Kind: im.Kind,
		Path: m.Path, Line: m.Line, State: overlay.Present,
		Redacted: m.Redacted, Fingerprint: m.Fingerprint, Entropy: m.Entropy, Encoding: m.Encoding,
		Confidence: m.Confidence, Validation: m.Validation, Context: m.Context,
	}
	if im.Platform != nil {
		f.Platform = im.Platform.String()
	}
	if r.opts.KeepSecrets {
		f.Secret = m.Secret
	}
	return f
}

// scanTexts scans texts with ScanText, or takes their matches from the
// cache (keyed by the texts' hash and the ruleset).
func (r *runner) scanTexts(ctx context.Context, items []textItem) ([]secret.Match, error) {
	if len(items) == 0 {
		return nil, nil
	}
	hash := r.eng.RulesetHash()
	var key string
	if r.opts.Cache != nil {
		key = textKey(items)
		if !r.opts.KeepSecrets {
			ms, ok, err := r.opts.Cache.getTexts(ctx, key, hash)
			if err != nil {
				r.log.Warn("scan cache unusable, scanning without it", "err", err)
			} else if ok {
				return ms, nil
			}
		}
	}
	if err := r.eng.Compile(); err != nil {
		return nil, fmt.Errorf("compile the secret rules: %w", err)
	}
	var ms []secret.Match
	for _, it := range items {
		r.eng.ScanText(ctx, it.Loc, it.Text, func(m secret.Match) { ms = append(ms, m) })
	}
	if err := ctx.Err(); err != nil {
		return ms, err
	}
	if r.opts.Cache != nil {
		if err := r.opts.Cache.putTexts(ctx, key, hash, ms); err != nil {
			r.log.Warn("could not store text results in the scan cache", "err", err)
		}
	}
	return ms, nil
}

// configFindings scans the config's Env, Labels, Cmd, Entrypoint and every
// history entry's created_by and comment.
func (r *runner) configFindings(ctx context.Context, t *Target, im *image.Image, c *Coverage) ([]Finding, error) {
	cfg := im.Config
	if cfg == nil {
		return nil, nil
	}
	var items []textItem
	add := func(loc, text string) {
		if strings.TrimSpace(text) == "" {
			return
		}
		items = append(items, textItem{loc, text})
	}
	add("config:env", strings.Join(cfg.Config.Env, "\n"))
	if len(cfg.Config.Labels) > 0 {
		keys := make([]string, 0, len(cfg.Config.Labels))
		for k := range cfg.Config.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(k + "=" + cfg.Config.Labels[k] + "\n")
		}
		add("config:label", b.String())
	}
	add("config:cmd", strings.Join(cfg.Config.Cmd, " "))
	add("config:entrypoint", strings.Join(cfg.Config.Entrypoint, " "))
	for i, h := range cfg.History {
		text := h.CreatedBy
		if h.Comment != "" {
			text += "\n" + h.Comment
		}
		add(fmt.Sprintf("config:history[%d]", i), text)
	}
	c.ConfigTexts += len(items)
	ms, err := r.scanTexts(ctx, items)
	var out []Finding
	for _, m := range ms {
		f := r.finding(t, im, m)
		f.Remediation = remediation(im, &f)
		out = append(out, f)
	}
	return out, err
}

// maxAttestationBytes bounds one attestation blob read into memory.
const maxAttestationBytes = 64 << 20

// attestationFindings scans the in-toto statements of an attestation
// manifest (SLSA provenance can record build-arg values).
func (r *runner) attestationFindings(ctx context.Context, t *Target, im *image.Image, c *Coverage) ([]Finding, error) {
	var out []Finding
	for _, l := range im.Layers {
		raw, err := content.ReadAll(ctx, t.Store, l.Descriptor, "attestation", maxAttestationBytes)
		if err != nil {
			if errors.Is(err, content.ErrNotFound) {
				c.NotScanned = append(c.NotScanned, Skip{Layer: l.Descriptor.Digest, Reason: "attestation blob missing from the source"})
				continue
			}
			return out, fmt.Errorf("attestation %s of %s: %w", l.Descriptor.Digest, im.AttestationFor, err)
		}
		c.Attestations++
		loc := "attestation:" + string(l.Descriptor.Digest)
		if pt := l.Descriptor.Annotations["in-toto.io/predicate-type"]; pt != "" {
			loc += " (" + pt + ")"
		}
		ms, err := r.scanTexts(ctx, []textItem{{loc, string(raw)}})
		for _, m := range ms {
			f := r.finding(t, im, m)
			f.Remediation = remediation(im, &f)
			out = append(out, f)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
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
