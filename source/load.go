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
)

// Load walks the manifest tree under s's root: every manifest and config is
// fetched, verified against its digest and parsed. Layer blobs are not read.
func Load(ctx context.Context, s content.Store, log *slog.Logger) (*image.Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := s.Root(ctx)
	if err != nil {
		return nil, err
	}
	return loadNode(ctx, s, root, nil, 0, log)
}

func loadNode(ctx context.Context, s content.Store, d image.Descriptor, parentPlatform *image.Platform, depth int, log *slog.Logger) (*image.Node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: manifest tree deeper than %d levels at %s", image.ErrMalformed, maxDepth, d.Digest)
	}
	raw, err := fetchManifest(ctx, s, d)
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
		var cacheCfg *image.Descriptor
		for _, c := range p.Index.Manifests {
			c := c
			switch {
			case c.MediaType == image.MediaTypeBuildKitCache:
				cacheCfg = &c
				n.Children = append(n.Children, &image.Node{Descriptor: c, Kind: "cache-config"})
			case image.IsManifest(c.MediaType):
				child, err := loadNode(ctx, s, c, c.Platform, depth+1, log)
				if err != nil {
					if errors.Is(err, content.ErrNotFound) {
						// Docker 29 multi-platform saves name blobs they do not
						// hold (FIELD-NOTES 1.7): report, don't abort.
						log.Warn("index entry missing from source", "digest", c.Digest, "platform", c.Platform.String())
						n.Children = append(n.Children, &image.Node{Descriptor: c, Warning: "missing from source: " + err.Error()})
						continue
					}
					return nil, err
				}
				n.Children = append(n.Children, child)
			default:
				n.Children = append(n.Children, &image.Node{Descriptor: c, Kind: "blob"})
			}
		}
		if cacheCfg != nil {
			im, err := cacheImage(ctx, s, d, *cacheCfg, p.Index.Manifests)
			if err != nil {
				return nil, err
			}
			n.Image = im
		}
	case p.Schema1 != nil:
		im, err := schema1Image(d, p.Schema1)
		if err != nil {
			return nil, err
		}
		n.Image = im
	case p.Manifest != nil:
		im, err := manifestImage(ctx, s, d, p, parentPlatform)
		if err != nil {
			return nil, err
		}
		n.Image = im
	}
	return n, nil
}

// fetchManifest reads a manifest and verifies it: against its body digest,
// or for signed schema 1 against the signed payload (FIELD-NOTES 1.9).
func fetchManifest(ctx context.Context, s content.Store, d image.Descriptor) ([]byte, error) {
	if d.Size > maxManifestBytes {
		return nil, fmt.Errorf("%w: manifest %s is %d bytes, over the %d byte limit", content.ErrTooLarge, d.Digest, d.Size, maxManifestBytes)
	}
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("open manifest %s: %w", d.Digest, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", d.Digest, err)
	}
	if len(raw) > maxManifestBytes {
		return nil, fmt.Errorf("%w: manifest %s exceeds %d bytes", content.ErrTooLarge, d.Digest, maxManifestBytes)
	}
	if d.Digest.Algorithm() != "sha256" {
		return raw, nil
	}
	got := image.FromBytes(raw)
	if got == d.Digest {
		if d.Size > 0 && int64(len(raw)) != d.Size {
			return nil, fmt.Errorf("%w: manifest %s: %d bytes, descriptor says %d", content.ErrSizeMismatch, d.Digest, len(raw), d.Size)
		}
		return raw, nil
	}
	if image.IsSchema1(d.MediaType) || image.IsSchema1(image.SniffMediaType(raw)) {
		if payload, err := image.Schema1Payload(raw); err == nil && image.FromBytes(payload) == d.Digest {
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
		if n := len(im.Config.RootFS.DiffIDs); n != len(m.Layers) && p.Kind == image.KindImage {
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
		var have []string
		for _, im := range cands {
			have = append(have, im.Platform.String())
		}
		return nil, fmt.Errorf("%w: want %s, the index has [%s]; pass --platform or --all-platforms", ErrNoMatchingPlatform, want, strings.Join(have, ", "))
	}
	return out[:1], nil
}
