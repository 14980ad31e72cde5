package layout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// DockerEntry is one image of a `docker save` manifest.json
// (moby image/tarexport; FIELD-NOTES 1.7).
type DockerEntry struct {
	Config       string
	RepoTags     []string
	Layers       []string
	Parent       string                            `json:",omitempty"`
	LayerSources map[image.Digest]image.Descriptor `json:",omitempty"`
}

// ParseDockerManifest parses a `docker save` manifest.json and validates
// every path it names (relative, inside the archive).
func ParseDockerManifest(raw []byte) ([]DockerEntry, error) {
	var entries []DockerEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("%w: manifest.json is not a docker save manifest (want a JSON array of {Config, RepoTags, Layers}): %v", image.ErrMalformed, err)
	}
	for i, e := range entries {
		if e.Config == "" {
			return nil, fmt.Errorf("%w: manifest.json entry %d has no Config", image.ErrMalformed, i)
		}
		if _, err := memberPath(e.Config); err != nil {
			return nil, fmt.Errorf("manifest.json entry %d Config: %w", i, err)
		}
		for j, l := range e.Layers {
			if _, err := memberPath(l); err != nil {
				return nil, fmt.Errorf("manifest.json entry %d layer %d: %w", i, j, err)
			}
		}
		for dg, src := range e.LayerSources {
			if _, err := image.ParseDigest(string(dg)); err != nil {
				return nil, fmt.Errorf("%w: manifest.json entry %d LayerSources key: %v", image.ErrMalformed, i, err)
			}
			if _, err := image.ParseDigest(string(src.Digest)); err != nil {
				return nil, fmt.Errorf("%w: manifest.json entry %d LayerSources %s: %v", image.ErrMalformed, i, dg, err)
			}
		}
	}
	return entries, nil
}

// DockerSave opens the tree of a `docker save` tarball held by fsys and
// selects ref: a RepoTag ("busybox:latest", Docker short and long forms
// alike), "@N" (the N-th manifest.json entry), or "" when the archive holds
// one image (several: content.ErrAmbiguous listing the RepoTags).
//
// Docker 25+ archives (an OCI layout plus manifest.json) are served from the
// layout, so the root is the manifest or index Docker saved. Legacy archives
// get a synthesised Docker v2 schema 2 manifest whose config is the saved
// config and whose layers are the saved layer files: media type by sniffing
// (uncompressed tar, gzip or zstd), digest from the config's diff_ids for
// uncompressed tars (checked when streamed) or by hashing the file once on
// the first Root call. Files that manifest.json names but the archive lacks
// are reported by Open as content.ErrNotFound.
func DockerSave(ctx context.Context, fsys fs.FS, ref string, opts ...Option) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var entries []DockerEntry
	mraw, err := readFileLimit(fsys, "manifest.json", maxIndexBytes)
	hasManifest := err == nil
	switch {
	case err == nil:
		if entries, err = ParseDockerManifest(mraw); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read manifest.json: %w", err)
	}
	isOCI := fileExists(fsys, "oci-layout") && fileExists(fsys, "index.json")
	if !hasManifest {
		if isOCI {
			// An OCI layout in a tar without manifest.json (buildx -o type=oci).
			return OCI(ctx, fsys, ref, opts...)
		}
		return nil, fmt.Errorf("%w: no manifest.json, so this is not a docker save tarball (an OCI layout needs oci-layout and index.json)", ErrNotLayout)
	}
	s := newStore(fsys, "docker-archive", ref, opts)
	s.tags = func() []string {
		var out []string
		for _, e := range entries {
			out = append(out, e.RepoTags...)
		}
		return out
	}
	i, err := selectDocker(entries, ref)
	if err != nil {
		return nil, err
	}
	e := entries[i]
	s.setFoundName(matchedTag(e, ref))
	if isOCI {
		// Docker 25+: prefer the manifest Docker saved in the layout.
		l, err := readOCILayout(fsys)
		if err != nil {
			return nil, fmt.Errorf("docker save tarball with an OCI layout: %w", err)
		}
		if d, ok := s.findLayoutImage(l, e, ref); ok {
			s.blobPath = ociBlobPath
			s.rootFn = func(context.Context) (image.Descriptor, error) { return d, nil }
			return s, nil
		}
		s.log.Warn("docker save tarball: no index.json entry for the selected image; synthesising its manifest from manifest.json", "config", e.Config)
	}
	s.rootFn = func(ctx context.Context) (image.Descriptor, error) { return s.synthesise(ctx, e) }
	return s, nil
}

// selectDocker picks a manifest.json entry.
func selectDocker(entries []DockerEntry, ref string) (int, error) {
	if len(entries) == 0 {
		return 0, fmt.Errorf("%w: manifest.json lists no images", content.ErrNotFound)
	}
	if n, ok := parseIndexRef(ref); ok {
		if n < 0 || n >= len(entries) {
			return 0, fmt.Errorf("%w: %q: the archive has %d images (@0..@%d)", content.ErrNotFound, ref, len(entries), len(entries)-1)
		}
		return n, nil
	}
	if ref == "" {
		if len(entries) == 1 {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: the archive holds %d images; name one: %s", content.ErrAmbiguous, len(entries), describeDocker(entries))
	}
	want := NormalizeName(ref)
	var found []int
	for i, e := range entries {
		for _, t := range e.RepoTags {
			if t == ref || NormalizeName(t) == want {
				found = append(found, i)
				break
			}
		}
	}
	if len(found) == 0 {
		if dg, err := image.ParseDigest(ref); err == nil {
			for i, e := range entries {
				if configDigestFromName(e.Config) == dg {
					return i, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: no image tagged %q in the archive; it has %s", content.ErrNotFound, ref, describeDocker(entries))
	}
	if len(found) > 1 {
		return 0, fmt.Errorf("%w: %q tags %d images in the archive; use @N: %s", content.ErrAmbiguous, ref, len(found), describeDocker(entries))
	}
	return found[0], nil
}

func describeDocker(entries []DockerEntry) string {
	var parts []string
	for i, e := range entries {
		tags := strings.Join(e.RepoTags, " ")
		if tags == "" {
			tags = "(untagged)"
		}
		parts = append(parts, fmt.Sprintf("@%d %s", i, tags))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func matchedTag(e DockerEntry, ref string) string {
	want := NormalizeName(ref)
	for _, t := range e.RepoTags {
		if ref != "" && (t == ref || NormalizeName(t) == want) {
			return t
		}
	}
	if len(e.RepoTags) > 0 {
		return e.RepoTags[0]
	}
	return ""
}

var hexName = regexp.MustCompile(`^(?:blobs/(sha256)/)?([a-f0-9]{64})(?:\.json|\.tar)?$`)

// configDigestFromName reads the digest a docker save path encodes:
// "<hex>.json" (legacy config, the image ID) or "blobs/sha256/<hex>".
func configDigestFromName(p string) image.Digest {
	c, err := memberPath(p)
	if err != nil {
		return ""
	}
	m := hexName.FindStringSubmatch(c)
	if m == nil {
		return ""
	}
	return image.Digest("sha256:" + m[2])
}

// blobDigestFromName reads a digest from a "blobs/<alg>/<hex>" path.
func blobDigestFromName(p string) image.Digest {
	parts := strings.Split(p, "/")
	if len(parts) == 3 && parts[0] == "blobs" {
		if d, err := image.ParseDigest(parts[1] + ":" + parts[2]); err == nil {
			return d
		}
	}
	return ""
}

// findLayoutImage maps a manifest.json entry to an index.json entry of a
// Docker 25+ archive: by name annotations first, then by config digest
// (an image manifest with that config, or an index holding one).
func (s *Store) findLayoutImage(l *ociLayout, e DockerEntry, ref string) (image.Descriptor, bool) {
	names := append([]string{}, e.RepoTags...)
	if ref != "" && !strings.HasPrefix(ref, "@") {
		names = append([]string{ref}, names...)
	}
	for _, n := range names {
		for _, d := range l.ix.Manifests {
			if matchesRef(d, n) && s.holdsConfig(d, e.Config, 0) {
				return d, true
			}
		}
	}
	for _, d := range l.ix.Manifests {
		if s.holdsConfig(d, e.Config, 0) {
			return d, true
		}
	}
	// Docker 25 saves by image ID write "manifests": null but still hold
	// the manifest blob: find it among the small blobs.
	want := configDigestFromName(e.Config)
	if want == "" {
		return image.Descriptor{}, false
	}
	skip := map[string]bool{e.Config: true}
	for _, lp := range e.Layers {
		skip[lp] = true
	}
	ents, err := fs.ReadDir(s.fsys, "blobs/sha256")
	if err != nil {
		return image.Descriptor{}, false
	}
	for _, ent := range ents {
		p := "blobs/sha256/" + ent.Name()
		if skip[p] || ent.IsDir() {
			continue
		}
		if info, err := ent.Info(); err != nil || info.Size() > maxScanManifest {
			continue
		}
		dg, err := image.ParseDigest("sha256:" + ent.Name())
		if err != nil {
			continue
		}
		raw, err := readFileLimit(s.fsys, p, maxScanManifest)
		if err != nil || image.FromBytes(raw) != dg {
			continue
		}
		pm, err := image.ParseManifest("", raw)
		if err != nil || pm.Manifest == nil || !image.IsImageManifest(pm.MediaType) || pm.Manifest.Config.Digest != want {
			continue
		}
		return image.Descriptor{MediaType: pm.MediaType, Digest: dg, Size: int64(len(raw))}, true
	}
	return image.Descriptor{}, false
}

// maxScanManifest bounds the blobs read while looking for an unlisted manifest.
const maxScanManifest = 256 << 10

// holdsConfig reports whether the manifest or index d names the config
// manifest.json points at.
func (s *Store) holdsConfig(d image.Descriptor, configPath string, depth int) bool {
	want := configDigestFromName(configPath)
	if want == "" {
		p, err := memberPath(configPath)
		if err != nil {
			return false
		}
		raw, err := readFileLimit(s.fsys, p, maxConfigBytes)
		if err != nil {
			return false
		}
		want = image.FromBytes(raw)
	}
	if depth > 2 {
		return false
	}
	raw, err := readFileLimit(s.fsys, ociBlobPath(d)[0], maxManifestBytes)
	if err != nil {
		return false
	}
	p, err := image.ParseManifest(d.MediaType, raw)
	if err != nil {
		return false
	}
	switch {
	case p.Manifest != nil:
		return p.Manifest.Config.Digest == want
	case p.Index != nil:
		for _, c := range p.Index.Manifests {
			if image.IsManifest(c.MediaType) && s.holdsConfig(c, configPath, depth+1) {
				return true
			}
		}
	}
	return false
}

// synthesise builds a Docker v2 schema 2 manifest for a legacy entry.
func (s *Store) synthesise(ctx context.Context, e DockerEntry) (image.Descriptor, error) {
	cfgPath, err := memberPath(e.Config)
	if err != nil {
		return image.Descriptor{}, err
	}
	cfgDesc := image.Descriptor{MediaType: image.MediaTypeDockerConfig}
	var diffIDs []image.Digest
	cfgRaw, err := readFileLimit(s.fsys, cfgPath, maxConfigBytes)
	switch {
	case err == nil:
		cfgDesc.Digest, cfgDesc.Size = image.FromBytes(cfgRaw), int64(len(cfgRaw))
		if cfg, perr := image.ParseConfig(cfgRaw); perr == nil {
			diffIDs = cfg.RootFS.DiffIDs
			if mt := probeMediaType(cfgRaw); mt == image.MediaTypeOCIConfig {
				cfgDesc.MediaType = mt
			}
		} else {
			s.log.Warn("docker save tarball: config does not parse; layer digests will be computed", "config", e.Config, "err", perr)
		}
	case errors.Is(err, fs.ErrNotExist):
		cfgDesc.Digest = configDigestFromName(e.Config)
		if cfgDesc.Digest == "" {
			return image.Descriptor{}, fmt.Errorf("docker save tarball: config %q named by manifest.json: %w in the archive, and its name carries no digest", e.Config, content.ErrNotFound)
		}
		s.log.Warn("docker save tarball: config named by manifest.json is missing", "config", e.Config)
	default:
		return image.Descriptor{}, fmt.Errorf("docker save tarball: read config %q: %w", e.Config, err)
	}
	s.mu.Lock()
	s.paths[cfgDesc.Digest] = cfgPath
	s.mu.Unlock()

	m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeDockerManifest, Config: cfgDesc, Layers: []image.Descriptor{}}
	for i, lp := range e.Layers {
		p, err := memberPath(lp)
		if err != nil {
			return image.Descriptor{}, err
		}
		var diffID image.Digest
		if i < len(diffIDs) {
			diffID = diffIDs[i]
		}
		d, err := s.layerDescriptor(ctx, p, diffID, e.LayerSources)
		if err != nil {
			return image.Descriptor{}, fmt.Errorf("docker save tarball: layer %d (%s): %w", i, lp, err)
		}
		m.Layers = append(m.Layers, d)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return image.Descriptor{}, err
	}
	d := image.Descriptor{MediaType: image.MediaTypeDockerManifest, Digest: image.FromBytes(raw), Size: int64(len(raw))}
	s.mu.Lock()
	s.synth[d.Digest] = raw
	s.mu.Unlock()
	return d, nil
}

func probeMediaType(raw []byte) string {
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	json.Unmarshal(raw, &probe)
	return probe.MediaType
}

// layerDescriptor describes one saved layer file.
func (s *Store) layerDescriptor(ctx context.Context, p string, diffID image.Digest, sources map[image.Digest]image.Descriptor) (image.Descriptor, error) {
	named := blobDigestFromName(p)
	f, err := s.fsys.Open(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return image.Descriptor{}, err
		}
		// Missing: describe it as well as we can; Open will say ErrNotFound.
		if src, ok := sources[diffID]; ok && diffID != "" {
			return src, nil
		}
		d := image.Descriptor{MediaType: image.MediaTypeDockerLayer, Digest: named} // size unknown: 0
		if d.Digest == "" {
			d.Digest = diffID
		}
		if d.Digest == "" {
			return image.Descriptor{}, fmt.Errorf("%w in the archive, and neither its name nor the config gives its digest", content.ErrNotFound)
		}
		s.log.Warn("docker save tarball: layer named by manifest.json is missing", "path", p, "digest", d.Digest)
		return d, nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return image.Descriptor{}, err
	}
	if st.IsDir() {
		return image.Descriptor{}, fmt.Errorf("%w: %s is a directory", image.ErrMalformed, p)
	}
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	d := image.Descriptor{MediaType: image.MediaTypeDockerLayer, Size: st.Size()}
	compressed := true
	switch {
	case n >= 3 && bytes.Equal(magic[:3], []byte{0x1f, 0x8b, 0x08}):
		d.MediaType = image.MediaTypeDockerLayerGzip
	case n == 4 && bytes.Equal(magic[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d.MediaType = image.MediaTypeDockerLayerZstd
	default:
		compressed = false
	}
	switch {
	case named != "":
		d.Digest = named
	case !compressed && diffID != "":
		d.Digest = diffID // checked by content.Verify when the layer streams
	default:
		dg, err := hashFile(ctx, s.fsys, p)
		if err != nil {
			return image.Descriptor{}, err
		}
		d.Digest = dg
	}
	s.mu.Lock()
	s.paths[d.Digest] = p
	s.mu.Unlock()
	return d, nil
}

// hashFile computes the sha256 of a file, checking ctx between chunks.
func hashFile(ctx context.Context, fsys fs.FS, p string) (image.Digest, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", p, err)
		}
	}
	return image.FromSum(h.Sum(nil)), nil
}
