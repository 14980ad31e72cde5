package purge

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/stratascan/strata/image"
)

// Inventory is what one repository holds, as far as the registry API shows
// it: every tag, and every manifest reachable from a tag, from a referrer of
// such a manifest, or named explicitly. It is a plain value: NewPlan reads
// nothing else, so tests can build one by hand.
type Inventory struct {
	// Repository is "host/path".
	Repository string `json:"repository"`
	// Tags maps each tag to the manifest digest it resolves to.
	Tags map[string]image.Digest `json:"tags"`
	// Manifests holds every manifest seen, by digest.
	Manifests map[image.Digest]*Manifest `json:"manifests"`
	// ReferrersAPI is true when the registry answered the referrers API;
	// otherwise referrers come from fallback and cosign tags only.
	ReferrersAPI bool `json:"referrersAPI"`
	// Missing lists manifests something references but the registry does not
	// serve (dangling index children, deleted subjects).
	Missing []image.Digest `json:"missing,omitempty"`
	// Warnings note oddities that did not stop the inventory.
	Warnings []string `json:"warnings,omitempty"`
}

// Manifest is one manifest of the inventory with what it references.
type Manifest struct {
	Digest       image.Digest `json:"digest"`
	MediaType    string       `json:"mediaType"`
	Size         int64        `json:"size"`
	Kind         image.Kind   `json:"kind"`
	ArtifactType string       `json:"artifactType,omitempty"`
	// Children are the manifests an index lists (platform images,
	// attestation manifests, nested indexes), in order.
	Children []Child `json:"children,omitempty"`
	// Blobs are the config, layers, and blob entries of an index (BuildKit
	// index-form caches), in order.
	Blobs []Blob `json:"blobs,omitempty"`
	// Subject is the OCI subject digest, if any.
	Subject image.Digest `json:"subject,omitempty"`
	// Referrers are manifests whose subject is this manifest, found by the
	// referrers API, a fallback tag, a cosign tag or their subject field.
	Referrers []image.Digest `json:"referrers,omitempty"`
}

// Child is one manifest entry of an index.
type Child struct {
	Digest   image.Digest `json:"digest"`
	Platform string       `json:"platform,omitempty"`
	// AttestationFor is set on BuildKit attestation entries: the platform
	// manifest they describe.
	AttestationFor image.Digest `json:"attestationFor,omitempty"`
}

// Blob is one blob a manifest references.
type Blob struct {
	Digest    image.Digest `json:"digest"`
	MediaType string       `json:"mediaType,omitempty"`
	Size      int64        `json:"size"`
	// Role is "config", "layer" or "blob" (an index's blob entry).
	Role string `json:"role"`
}

// IsImage reports whether m is an image that has a filesystem (not a cache,
// attestation or artifact).
func (m *Manifest) IsImage() bool { return m.Kind == image.KindImage || m.Kind == image.KindSchema1 }

// Layers returns the digests of m's layers in order.
func (m *Manifest) Layers() []image.Digest {
	var out []image.Digest
	for _, b := range m.Blobs {
		if b.Role == "layer" || b.Role == "blob" {
			out = append(out, b.Digest)
		}
	}
	return out
}

// ReferrerSubject tells whether tag is a referrers fallback tag
// ("sha256-<hex>") or a cosign tag ("sha256-<hex>.sig", ".att", ".sbom") and
// returns the subject digest it belongs to.
func ReferrerSubject(tag string) (image.Digest, string, bool) {
	base, kind := tag, "referrers"
	for _, suf := range []string{".sig", ".att", ".sbom"} {
		if strings.HasSuffix(tag, suf) {
			base, kind = strings.TrimSuffix(tag, suf), "cosign"+suf
			break
		}
	}
	alg, hex, ok := strings.Cut(base, "-")
	if !ok || alg != "sha256" && alg != "sha512" {
		return "", "", false
	}
	d, err := image.ParseDigest(alg + ":" + hex)
	if err != nil {
		return "", "", false
	}
	return d, kind, true
}

// InventoryOptions tune Take.
type InventoryOptions struct {
	// Concurrency bounds parallel requests (default 8).
	Concurrency int
	// Extra manifests to walk even when no tag reaches them (targets given
	// by digest).
	Extra []image.Digest
	// Known holds manifests already fetched, by digest: a manifest is
	// addressed by its content, so these are not fetched again (a later
	// inventory of the same repository reuses an earlier one's). Take
	// still resolves every tag and asks for referrers.
	Known map[image.Digest]*Manifest
	// Logger receives progress at debug level; nil discards.
	Logger *slog.Logger
}

// Take inventories one repository. It only reads.
func Take(ctx context.Context, repo Repository, name string, opts InventoryOptions) (*Inventory, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := opts.Concurrency
	if n <= 0 {
		n = 8
	}
	w := &walker{repo: repo, sem: make(chan struct{}, n), inv: &Inventory{
		Repository: name,
		Tags:       map[string]image.Digest{},
		Manifests:  map[image.Digest]*Manifest{},
	}, seen: map[image.Digest]bool{}, known: opts.Known}
	tags, err := repo.Tags(ctx)
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("inventory of %s: listing tags: %w", name, err)
	}
	log.Debug("inventory: tags listed", "repository", name, "tags", len(tags))

	// Resolve every tag (HEAD with the full Accept list).
	var wg sync.WaitGroup
	for _, tag := range tags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.acquire()
			d, err := repo.HeadManifest(ctx, tag)
			w.release()
			w.mu.Lock()
			defer w.mu.Unlock()
			switch {
			case err == nil:
				w.inv.Tags[tag] = d.Digest
			case isNotFound(err):
				w.inv.Warnings = append(w.inv.Warnings, fmt.Sprintf("tag %s was listed but does not resolve (deleted meanwhile?)", tag))
			default:
				w.setErr(fmt.Errorf("inventory of %s: resolving tag %s: %w", name, tag, err))
			}
		}()
	}
	wg.Wait()
	if w.err != nil {
		return nil, w.err
	}

	// Walk every manifest.
	var roots []image.Digest
	for _, d := range w.inv.Tags {
		roots = append(roots, d)
	}
	roots = append(roots, opts.Extra...)
	w.walkAll(ctx, roots)
	if w.err != nil {
		return nil, w.err
	}

	// Referrers API: probe once; only when supported ask for every manifest.
	if len(w.inv.Manifests) > 0 {
		w.probeReferrers(ctx)
		if w.err != nil {
			return nil, w.err
		}
	}
	w.inv.link()
	log.Debug("inventory: done", "repository", name, "tags", len(w.inv.Tags), "manifests", len(w.inv.Manifests), "referrersAPI", w.inv.ReferrersAPI)
	return w.inv, nil
}

type walker struct {
	repo Repository
	sem  chan struct{}
	mu   sync.Mutex
	inv  *Inventory
	seen map[image.Digest]bool
	// known manifests are taken as they are instead of fetched.
	known map[image.Digest]*Manifest
	err   error
}

func (w *walker) acquire() { w.sem <- struct{}{} }
func (w *walker) release() { <-w.sem }

func (w *walker) setErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// walkAll fetches every manifest reachable from roots, level by level.
func (w *walker) walkAll(ctx context.Context, roots []image.Digest) {
	next := roots
	for len(next) > 0 {
		var level []image.Digest
		w.mu.Lock()
		for _, d := range next {
			if !w.seen[d] {
				w.seen[d] = true
				level = append(level, d)
			}
		}
		w.mu.Unlock()
		var found []image.Digest
		var wg sync.WaitGroup
		for _, d := range level {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kids := w.fetch(ctx, d)
				w.mu.Lock()
				found = append(found, kids...)
				w.mu.Unlock()
			}()
		}
		wg.Wait()
		if w.err != nil {
			return
		}
		next = found
	}
}

// fetch GETs one manifest, records it and returns the manifests it points at.
func (w *walker) fetch(ctx context.Context, d image.Digest) []image.Digest {
	if k := w.known[d]; k != nil {
		m := *k
		m.Referrers = nil // recomputed by link from what is seen now
		w.mu.Lock()
		defer w.mu.Unlock()
		w.inv.Manifests[d] = &m
		return m.next()
	}
	w.acquire()
	desc, raw, err := w.repo.GetManifest(ctx, string(d))
	w.release()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if isNotFound(err) {
			w.inv.Missing = append(w.inv.Missing, d)
			return nil
		}
		w.setErr(fmt.Errorf("inventory of %s: fetching manifest %s: %w", w.inv.Repository, d, err))
		return nil
	}
	m, err := describe(d, desc.MediaType, raw)
	if err != nil {
		w.inv.Warnings = append(w.inv.Warnings, fmt.Sprintf("manifest %s: %v (treated as opaque)", d, err))
		m = &Manifest{Digest: d, MediaType: desc.MediaType, Size: int64(len(raw)), Kind: image.KindArtifact}
	}
	w.inv.Manifests[d] = m
	return m.next()
}

// next returns the manifests m points at: index children and its subject.
func (m *Manifest) next() []image.Digest {
	var out []image.Digest
	for _, c := range m.Children {
		out = append(out, c.Digest)
	}
	if m.Subject != "" {
		out = append(out, m.Subject)
	}
	return out
}

// describe parses a manifest into an inventory entry.
func describe(d image.Digest, mediaType string, raw []byte) (*Manifest, error) {
	p, err := image.ParseManifest(mediaType, raw)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Digest: d, MediaType: p.MediaType, Size: int64(len(raw)), Kind: p.Kind}
	switch {
	case p.Index != nil:
		m.ArtifactType = p.Index.ArtifactType
		for _, e := range p.Index.Manifests {
			if image.IsManifest(e.MediaType) {
				c := Child{Digest: e.Digest}
				if e.Platform != nil {
					c.Platform = e.Platform.String()
				}
				if e.IsAttestation() {
					c.AttestationFor = image.Digest(e.Annotations[image.AnnotationReferenceDigest])
				}
				m.Children = append(m.Children, c)
				continue
			}
			m.Blobs = append(m.Blobs, Blob{Digest: e.Digest, MediaType: e.MediaType, Size: e.Size, Role: "blob"})
		}
		if p.Index.Subject != nil {
			m.Subject = p.Index.Subject.Digest
		}
	case p.Manifest != nil:
		m.ArtifactType = p.Manifest.ArtifactType
		if c := p.Manifest.Config; c.Digest != "" {
			m.Blobs = append(m.Blobs, Blob{Digest: c.Digest, MediaType: c.MediaType, Size: c.Size, Role: "config"})
		}
		for _, l := range p.Manifest.Layers {
			m.Blobs = append(m.Blobs, Blob{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size, Role: "layer"})
		}
		if p.Manifest.Subject != nil {
			m.Subject = p.Manifest.Subject.Digest
		}
	case p.Schema1 != nil:
		// fsLayers are newest first; list them base first.
		ls := p.Schema1.FSLayers
		for i := len(ls) - 1; i >= 0; i-- {
			m.Blobs = append(m.Blobs, Blob{Digest: ls[i].BlobSum, MediaType: image.MediaTypeDockerLayerGzip, Size: -1, Role: "layer"})
		}
	}
	return m, nil
}

// probeReferrers asks the referrers API once; when the registry has it, it
// asks for the referrers of every manifest, walks the referrers found, and
// repeats for the manifests that walk added (signatures of SBOMs, and so
// on) until nothing new turns up: a referrer nobody tags is still a user of
// its blobs, however deep it sits.
func (w *walker) probeReferrers(ctx context.Context) {
	ds := sortedDigests(w.inv.Manifests)
	w.acquire()
	first, viaAPI, err := w.repo.Referrers(ctx, ds[0], "")
	w.release()
	if err != nil && !isNotFound(err) && !isUnsupported(err) {
		w.inv.Warnings = append(w.inv.Warnings, fmt.Sprintf("referrers API probe failed (%v); relying on fallback and cosign tags", err))
		return
	}
	if err != nil || !viaAPI {
		return
	}
	w.inv.ReferrersAPI = true
	asked := map[image.Digest]bool{ds[0]: true}
	more := descDigests(first)
	todo := ds[1:]
	for len(todo) > 0 || len(more) > 0 {
		if err := ctx.Err(); err != nil {
			w.setErr(err)
			return
		}
		more = append(more, w.referrersOf(ctx, todo)...)
		if w.err != nil {
			return
		}
		w.walkAll(ctx, more)
		if w.err != nil {
			return
		}
		more, todo = nil, nil
		w.mu.Lock()
		for _, d := range sortedDigests(w.inv.Manifests) {
			if !asked[d] {
				asked[d] = true
				todo = append(todo, d)
			}
		}
		w.mu.Unlock()
	}
}

// referrersOf asks the referrers API for each digest, concurrency bounded,
// and returns every referrer digest found.
func (w *walker) referrersOf(ctx context.Context, ds []image.Digest) []image.Digest {
	var out []image.Digest
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.acquire()
			rs, _, err := w.repo.Referrers(ctx, d, "")
			w.release()
			w.mu.Lock()
			defer w.mu.Unlock()
			if err != nil {
				w.setErr(fmt.Errorf("inventory of %s: referrers of %s: %w", w.inv.Repository, d, err))
				return
			}
			out = append(out, descDigests(rs)...)
		}()
	}
	wg.Wait()
	return out
}

func descDigests(ds []image.Descriptor) []image.Digest {
	out := make([]image.Digest, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return out
}

// link fills Manifest.Referrers from subject fields, fallback tags and
// cosign tags, and sorts everything for stable output.
func (inv *Inventory) link() {
	refs := map[image.Digest]map[image.Digest]bool{}
	add := func(subject, r image.Digest) {
		if subject == r {
			return
		}
		if refs[subject] == nil {
			refs[subject] = map[image.Digest]bool{}
		}
		refs[subject][r] = true
	}
	for d, m := range inv.Manifests {
		if m.Subject != "" {
			add(m.Subject, d)
		}
	}
	for tag, d := range inv.Tags {
		subject, kind, ok := ReferrerSubject(tag)
		if !ok {
			continue
		}
		if kind == "referrers" {
			if m := inv.Manifests[d]; m != nil {
				for _, c := range m.Children {
					add(subject, c.Digest)
				}
			}
			continue
		}
		add(subject, d)
	}
	for subject, set := range refs {
		m := inv.Manifests[subject]
		if m == nil {
			continue
		}
		m.Referrers = m.Referrers[:0]
		for r := range set {
			m.Referrers = append(m.Referrers, r)
		}
		sort.Slice(m.Referrers, func(i, j int) bool { return m.Referrers[i] < m.Referrers[j] })
	}
	sort.Slice(inv.Missing, func(i, j int) bool { return inv.Missing[i] < inv.Missing[j] })
	sort.Strings(inv.Warnings)
}

// Link recomputes derived fields (referrers) after an Inventory was built
// by hand. Take calls it itself.
func (inv *Inventory) Link() { inv.link() }

func sortedDigests[V any](m map[image.Digest]V) []image.Digest {
	out := make([]image.Digest, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// TagsReaching maps every manifest to the tags that reach it (the tag's own
// manifest and, through index children, everything below it), sorted.
func (inv *Inventory) TagsReaching() map[image.Digest][]string {
	return newGraph(inv).tagsReaching(sortedKeys(inv.Tags))
}

// BlobUsers maps every blob to the manifests that reference it, sorted: the
// blob's reference count within the repository is the length.
func (inv *Inventory) BlobUsers() map[image.Digest][]image.Digest {
	out := map[image.Digest][]image.Digest{}
	for _, d := range sortedDigests(inv.Manifests) {
		seen := map[image.Digest]bool{}
		for _, b := range inv.Manifests[d].Blobs {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				out[b.Digest] = append(out[b.Digest], d)
			}
		}
	}
	return out
}
