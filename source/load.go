package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

const (
	maxManifestBytes = 8 << 20
	maxConfigBytes   = 32 << 20
	maxDepth         = 8
	// DefaultMaxDescriptors bounds the descriptors (index entries, configs,
	// layers) of all the manifests one Load reads. The largest real images
	// (multi-arch indexes with attestations, BuildKit caches) list a few
	// thousand.
	DefaultMaxDescriptors = 100_000
)

// ErrGraphLimit reports a manifest graph over a safety bound: deeper than
// the nesting limit, or listing more descriptors than LoadOptions allow.
var ErrGraphLimit = errors.New("manifest graph over the safety limit")

// LoadOptions narrow and bound LoadWith.
type LoadOptions struct {
	// Platform, when set, loads only the index entries that can hold an
	// image for it: entries that declare a platform matching it, entries
	// that declare none, and attestations of those. Other entries are
	// listed in the tree (image.Node.Skipped) but never fetched.
	Platform *image.Platform
	// MaxDescriptors bounds the descriptors of all manifests read
	// (default DefaultMaxDescriptors).
	MaxDescriptors int
	Logger         *slog.Logger
}

// Load walks the manifest graph under s's root: every manifest and config is
// fetched, verified against its digest and parsed. Layer blobs are not read.
// See LoadWith.
func Load(ctx context.Context, s content.Store, log *slog.Logger) (*image.Node, error) {
	return LoadWith(ctx, s, LoadOptions{Logger: log})
}

// LoadWith is Load with options. The graph is a DAG, not a tree: a manifest
// that several entries list (an index naming the same child forty times) is
// fetched and parsed once; its later occurrences are nodes marked Repeat,
// without children or image, so neither memory nor later walks grow with the
// number of paths to it. Nesting depth and the total number of descriptors
// are bounded (ErrGraphLimit). An index entry that is missing from the source
// or does not parse as what it claims becomes a node with a Warning instead
// of failing the whole image; a digest or size mismatch always fails.
func LoadWith(ctx context.Context, s content.Store, opts LoadOptions) (*image.Node, error) {
	if opts.MaxDescriptors <= 0 {
		opts.MaxDescriptors = DefaultMaxDescriptors
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := s.Root(ctx)
	if err != nil {
		return nil, err
	}
	l := &loader{s: s, opts: opts, log: log, seen: map[image.Digest]*image.Node{}, fails: map[image.Digest]error{}}
	return l.node(ctx, root, nil, 0)
}

// loader holds the state of one LoadWith: what was loaded, and how many
// descriptors were counted against the bound.
type loader struct {
	s     content.Store
	opts  LoadOptions
	log   *slog.Logger
	seen  map[image.Digest]*image.Node // nil value: being loaded
	fails map[image.Digest]error       // entries that failed, answered again without a fetch
	descs int
}

// count charges n descriptors of the manifest at d against the bound.
func (l *loader) count(n int, d image.Digest) error {
	l.descs += n
	if l.descs > l.opts.MaxDescriptors {
		return fmt.Errorf("%w: the manifests under the root list more than %d descriptors (reached at %s); a hostile or broken image, or raise the descriptor limit", ErrGraphLimit, l.opts.MaxDescriptors, d)
	}
	return nil
}

func (l *loader) node(ctx context.Context, d image.Descriptor, parentPlatform *image.Platform, depth int) (*image.Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: manifests nested deeper than %d levels at %s", ErrGraphLimit, maxDepth, d.Digest)
	}
	if err := l.fails[d.Digest]; err != nil {
		return nil, err
	}
	if first, ok := l.seen[d.Digest]; ok {
		if first == nil {
			return nil, fmt.Errorf("%w: manifest %s lists itself (a cycle)", image.ErrMalformed, d.Digest)
		}
		return &image.Node{Descriptor: d, Kind: first.Kind, Repeat: true}, nil
	}
	l.seen[d.Digest] = nil
	n, err := l.load(ctx, d, parentPlatform, depth)
	if err != nil {
		delete(l.seen, d.Digest)
		l.fails[d.Digest] = err
		return nil, err
	}
	l.seen[d.Digest] = n
	return n, nil
}

// load fetches, verifies and parses one manifest and what it needs.
func (l *loader) load(ctx context.Context, d image.Descriptor, parentPlatform *image.Platform, depth int) (*image.Node, error) {
	raw, err := fetchManifest(ctx, l.s, d)
	if err != nil {
		return nil, err
	}
	p, err := image.ParseManifest(d.MediaType, raw)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if d.MediaType == "" || d.MediaType == "application/json" {
		d.MediaType = p.MediaType
	}
	n := &image.Node{Descriptor: d, Kind: p.Kind, Parsed: p, Raw: raw}
	switch {
	case p.Index != nil:
		err = l.index(ctx, n, p.Index, depth)
	case p.Schema1 != nil:
		if err = l.count(len(p.Schema1.FSLayers), d.Digest); err == nil {
			n.Image, err = schema1Image(d, p.Schema1)
		}
	case p.Manifest != nil:
		if err = l.count(1+len(p.Manifest.Layers), d.Digest); err == nil {
			n.Image, err = manifestImage(ctx, l.s, d, p, parentPlatform)
		}
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

// index loads the entries of an index node.
func (l *loader) index(ctx context.Context, n *image.Node, ix *image.Index, depth int) error {
	if err := l.count(len(ix.Manifests), n.Descriptor.Digest); err != nil {
		return err
	}
	want := l.wanted(ix.Manifests)
	var cacheCfg *image.Descriptor
	for i, c := range ix.Manifests {
		switch {
		case c.MediaType == image.MediaTypeBuildKitCache:
			cacheCfg = &ix.Manifests[i]
			n.Children = append(n.Children, &image.Node{Descriptor: c, Kind: "cache-config"})
		case image.IsManifest(c.MediaType) && !want[i]:
			n.Children = append(n.Children, &image.Node{Descriptor: c, Skipped: true})
		case image.IsManifest(c.MediaType):
			child, err := l.node(ctx, c, c.Platform, depth+1)
			if err != nil {
				if !tolerable(err) {
					return err
				}
				// Docker 29 multi-platform saves name blobs they do not
				// hold, and indexes carry odd children (an unknown/unknown
				// entry with an empty config and a non-tar layer): report
				// the entry, keep the others readable.
				l.log.Warn("index entry unreadable; skipped", "digest", c.Digest, "platform", c.Platform.String(), "error", err)
				child = &image.Node{Descriptor: c, Warning: "unreadable: " + err.Error()}
			}
			n.Children = append(n.Children, child)
		default:
			n.Children = append(n.Children, &image.Node{Descriptor: c, Kind: "blob"})
		}
	}
	if cacheCfg != nil {
		im, err := cacheImage(ctx, l.s, n.Descriptor, *cacheCfg, ix.Manifests)
		if err != nil {
			return err
		}
		n.Image = im
	}
	return nil
}

// tolerable reports whether an index entry's load error spares its
// siblings: the entry is missing or is not what it claims. Tampering (digest
// or size mismatch), bounds, unverifiable digests and cancellation are not.
func tolerable(err error) bool {
	if errors.Is(err, ErrGraphLimit) || errors.Is(err, content.ErrDigestMismatch) || errors.Is(err, content.ErrSizeMismatch) ||
		errors.Is(err, content.ErrTooLarge) || errors.Is(err, image.ErrUnsupportedAlgorithm) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, content.ErrNotFound) || errors.Is(err, image.ErrMalformed) || errors.Is(err, image.ErrUnsupported)
}

// wanted says which index entries the platform selection needs: all without
// one; else those declaring no platform or a matching one, and the
// attestations that describe a wanted entry.
func (l *loader) wanted(entries []image.Descriptor) []bool {
	want := make([]bool, len(entries))
	need := map[image.Digest]bool{}
	for i, c := range entries {
		want[i] = l.opts.Platform == nil || !c.IsAttestation() && (c.Platform == nil || c.Platform.Matches(l.opts.Platform))
		if want[i] {
			need[c.Digest] = true
		}
	}
	for i, c := range entries {
		if c.IsAttestation() && need[image.Digest(c.Annotations[image.AnnotationReferenceDigest])] {
			want[i] = true
		}
	}
	return want
}

// fetchManifest reads a manifest, never more than its declared size (or the
// manifest limit) plus one byte, and verifies it: against its body digest,
// or for signed schema 1 against the signed payload (FIELD-NOTES 1.9).
func fetchManifest(ctx context.Context, s content.Store, d image.Descriptor) ([]byte, error) {
	if err := d.Digest.Verifiable(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if d.Size > maxManifestBytes {
		return nil, fmt.Errorf("%w: manifest %s is %d bytes, over the %d byte limit", content.ErrTooLarge, d.Digest, d.Size, maxManifestBytes)
	}
	limit := int64(maxManifestBytes)
	if d.Size > 0 {
		limit = d.Size
	}
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("open manifest %s: %w", d.Digest, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", d.Digest, err)
	}
	if int64(len(raw)) > limit {
		if d.Size > 0 {
			return nil, fmt.Errorf("%w: manifest %s: more than the %d bytes its descriptor declares", content.ErrSizeMismatch, d.Digest, d.Size)
		}
		return nil, fmt.Errorf("%w: manifest %s exceeds %d bytes", content.ErrTooLarge, d.Digest, maxManifestBytes)
	}
	got, err := d.Digest.Of(raw)
	if err != nil {
		return nil, err
	}
	if got == d.Digest {
		if d.Size > 0 && int64(len(raw)) != d.Size {
			return nil, fmt.Errorf("%w: manifest %s: %d bytes, descriptor says %d", content.ErrSizeMismatch, d.Digest, len(raw), d.Size)
		}
		return raw, nil
	}
	if image.IsSchema1(d.MediaType) || image.IsSchema1(image.SniffMediaType(raw)) {
		if payload, err := image.Schema1Payload(raw); err == nil && d.Digest.Matches(payload) {
			return raw, nil
		}
	}
	return nil, &content.DigestError{Want: d.Digest, Got: got, What: "manifest"}
}

func manifestImage(ctx context.Context, s content.Store, d image.Descriptor, p *image.Parsed, platform *image.Platform) (*image.Image, error) {
	m := p.Manifest
	im := &image.Image{Manifest: d, Kind: p.Kind, Platform: platform, ConfigRef: m.Config, Subject: m.Subject}
	if d.IsAttestation() {
		im.Kind = image.KindAttestation
		im.AttestationFor = image.Digest(d.Annotations[image.AnnotationReferenceDigest])
	}
	if m.Subject != nil && im.Kind == image.KindAttestation && im.AttestationFor == "" {
		im.AttestationFor = m.Subject.Digest
	}
	if m.Config.Digest != "" && m.Config.MediaType != image.MediaTypeOCIEmpty {
		raw, err := content.ReadAll(ctx, s, m.Config, "config", maxConfigBytes)
		if err != nil {
			return nil, err
		}
		im.ConfigRaw = raw
		switch p.Kind {
		case image.KindImage:
			cfg, err := image.ParseConfig(raw)
			if err != nil {
				return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
			}
			im.Config = cfg
			if im.Platform == nil && cfg.OS != "" {
				im.Platform = &image.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
			}
		case image.KindCache:
			cc, err := image.ParseCacheConfig(raw)
			if err != nil {
				return nil, fmt.Errorf("cache config %s: %w", m.Config.Digest, err)
			}
			im.Cache = cc
		}
	}
	var hist []int
	if im.Config != nil {
		if n := len(im.Config.RootFS.DiffIDs); n != len(m.Layers) && im.Kind == image.KindImage {
			return nil, fmt.Errorf("%w: manifest %s has %d layers but its config lists %d diff_ids", image.ErrMalformed, d.Digest, len(m.Layers), n)
		}
		hist = im.Config.LayerHistory(len(m.Layers))
	}
	for i, l := range m.Layers {
		layer := image.Layer{Index: i, Descriptor: l, HistoryIndex: -1}
		if im.Config != nil {
			layer.DiffID = im.Config.RootFS.DiffIDs[i]
			if hi := hist[i]; hi >= 0 {
				layer.HistoryIndex = hi
				h := im.Config.History[hi]
				layer.History = &h
			}
		} else if u := l.Annotations[image.AnnotationUncompressed]; u != "" {
			layer.DiffID = image.Digest(u)
		}
		if im.Cache != nil && layer.DiffID == "" {
			layer.DiffID = cacheDiffID(im.Cache, l.Digest)
		}
		im.Layers = append(im.Layers, layer)
	}
	return im, nil
}

func cacheDiffID(c *image.CacheConfig, blob image.Digest) image.Digest {
	for _, cl := range c.Layers {
		if cl.Blob == blob && cl.Annotations != nil {
			return cl.Annotations.DiffID
		}
	}
	return ""
}

func cacheImage(ctx context.Context, s content.Store, d, cfg image.Descriptor, entries []image.Descriptor) (*image.Image, error) {
	raw, err := content.ReadAll(ctx, s, cfg, "cache config", maxConfigBytes)
	if err != nil {
		return nil, err
	}
	cc, err := image.ParseCacheConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("cache config %s: %w", cfg.Digest, err)
	}
	im := &image.Image{Manifest: d, Kind: image.KindCache, ConfigRef: cfg, ConfigRaw: raw, Cache: cc}
	for _, e := range entries {
		if e.MediaType == image.MediaTypeBuildKitCache || image.IsManifest(e.MediaType) {
			continue
		}
		l := image.Layer{Index: len(im.Layers), Descriptor: e, HistoryIndex: -1}
		if u := e.Annotations[image.AnnotationUncompressed]; u != "" {
			l.DiffID = image.Digest(u)
		} else {
			l.DiffID = cacheDiffID(cc, e.Digest)
		}
		im.Layers = append(im.Layers, l)
	}
	return im, nil
}

func schema1Image(d image.Descriptor, m *image.Schema1) (*image.Image, error) {
	layers, _, err := m.Layers()
	if err != nil {
		return nil, err
	}
	cfg, err := m.Schema1Config(nil)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(cfg)
	im := &image.Image{Manifest: d, Kind: image.KindSchema1, Config: cfg, ConfigRaw: raw,
		Platform: &image.Platform{OS: orDefault(cfg.OS, "linux"), Architecture: m.Architecture}}
	hist := cfg.LayerHistory(len(layers))
	for i, l := range layers {
		layer := image.Layer{Index: i, HistoryIndex: hist[i],
			Descriptor: image.Descriptor{MediaType: image.MediaTypeDockerLayerGzip, Digest: l.BlobSum, Size: -1}}
		h := l.History
		layer.History = &h
		im.Layers = append(im.Layers, layer)
	}
	return im, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// ErrNoMatchingPlatform: an index holds no image for the requested platform.
var ErrNoMatchingPlatform = errors.New("no image for the requested platform")

// Select picks the images to work on from a loaded tree. With all set it
// returns every platform image (attestations excluded); with want set, the
// image(s) matching it; otherwise the only image, or the host platform's
// (linux/<GOARCH>) when an index holds several.
func Select(root *image.Node, want *image.Platform, all bool) ([]*image.Image, error) {
	var cands []*image.Image
	for _, im := range root.Images() {
		if im.Kind == image.KindAttestation && root.Image != im {
			continue
		}
		cands = append(cands, im)
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: %s holds no image manifest", image.ErrUnsupported, root.Descriptor.Digest)
	}
	if all || len(cands) == 1 && want == nil {
		return cands, nil
	}
	if want == nil {
		want = &image.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	var out []*image.Image
	for _, im := range cands {
		if im.Platform.Matches(want) {
			out = append(out, im)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: want %s, the index has %s; name one of its platforms, or select all of them", ErrNoMatchingPlatform, want, describeEntries(root, cands))
	}
	return out[:1], nil
}

// describeEntries lists what an index offers for a platform choice: every
// loaded image by platform, or by digest when it declares none (an index
// without platforms), and the entries skipped or unreadable.
func describeEntries(root *image.Node, cands []*image.Image) string {
	var have []string
	count := map[string]int{}
	for _, im := range cands {
		count[imageLabel(im.Platform, im.Manifest.Digest)]++
	}
	for _, im := range cands {
		l := imageLabel(im.Platform, im.Manifest.Digest)
		if count[l] > 1 {
			l += " " + im.Manifest.Digest.Short() // same platform twice: tell them apart
		}
		have = append(have, l)
	}
	root.Walk(func(n *image.Node) {
		switch {
		case n.Skipped:
			have = append(have, imageLabel(n.Descriptor.Platform, n.Descriptor.Digest)+" (not loaded)")
		case n.Warning != "" && n.Image == nil:
			have = append(have, imageLabel(n.Descriptor.Platform, n.Descriptor.Digest)+" (unreadable)")
		}
	})
	if len(have) == 0 {
		return "no images"
	}
	return "[" + strings.Join(have, ", ") + "]"
}

// imageLabel names an image for a person: its platform, or "(no platform)"
// and its short digest.
func imageLabel(p *image.Platform, d image.Digest) string {
	if p == nil || p.OS == "" && p.Architecture == "" {
		return "(no platform) " + d.Short()
	}
	return p.String()
}
