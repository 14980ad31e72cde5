package layout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// ociLayout is the parsed top of an OCI image layout.
type ociLayout struct {
	raw []byte // index.json as stored
	ix  image.Index
}

func readOCILayout(fsys fs.FS) (*ociLayout, error) {
	lb, err := readFileLimit(fsys, "oci-layout", 4096)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: no oci-layout file, so this is not an OCI image layout (a docker save tarball? use docker-archive:; a skopeo dir:? use dir:)", ErrNotLayout)
		}
		return nil, fmt.Errorf("read oci-layout: %w", err)
	}
	var v struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(lb, &v); err != nil {
		return nil, fmt.Errorf("%w: oci-layout is not JSON: %v", image.ErrMalformed, err)
	}
	if !strings.HasPrefix(v.ImageLayoutVersion, "1.") {
		return nil, fmt.Errorf("%w: oci-layout imageLayoutVersion %q (strata reads 1.x)", image.ErrUnsupported, v.ImageLayoutVersion)
	}
	raw, err := readFileLimit(fsys, "index.json", maxIndexBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: OCI image layout without index.json", image.ErrMalformed)
		}
		return nil, fmt.Errorf("read index.json: %w", err)
	}
	ix, err := parseOCIIndex(raw)
	if err != nil {
		return nil, err
	}
	return &ociLayout{raw: raw, ix: *ix}, nil
}

// parseOCIIndex parses an index.json and validates every entry's digest
// (they become file paths).
func parseOCIIndex(raw []byte) (*image.Index, error) {
	var ix image.Index
	if err := json.Unmarshal(raw, &ix); err != nil {
		return nil, fmt.Errorf("%w: index.json: %v", image.ErrMalformed, err)
	}
	if ix.MediaType != "" && !image.IsIndex(ix.MediaType) {
		return nil, fmt.Errorf("%w: index.json has mediaType %q, want an image index", image.ErrMalformed, ix.MediaType)
	}
	for i, d := range ix.Manifests {
		if _, err := image.ParseDigest(string(d.Digest)); err != nil {
			return nil, fmt.Errorf("%w: index.json entry %d: %v", image.ErrMalformed, i, err)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("%w: index.json entry %d: negative size %d", image.ErrMalformed, i, d.Size)
		}
	}
	return &ix, nil
}

func ociBlobPath(d image.Descriptor) []string {
	return []string{"blobs/" + d.Digest.Algorithm() + "/" + d.Digest.Hex()}
}

// OCI opens an OCI image layout held by fsys and selects ref:
//   - "" : the only image (entries with the same digest count once); with
//     several, index.json itself becomes the root, an index of everything;
//   - "@N": the N-th index.json entry (from 0);
//   - a digest ("sha256:..."): that entry, or any manifest blob in the layout;
//   - a name: the entry whose org.opencontainers.image.ref.name or
//     io.containerd.image.name equals it, Docker short forms included
//     ("busybox" matches "docker.io/library/busybox:latest").
//
// No match is content.ErrNotFound, several different images
// content.ErrAmbiguous; both list what the layout has.
func OCI(ctx context.Context, fsys fs.FS, ref string, opts ...Option) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := newStore(fsys, "oci layout", ref, opts)
	s.blobPath = ociBlobPath
	l, err := readOCILayout(fsys)
	if err != nil {
		return nil, err
	}
	s.tags = func() []string { return refNames(l.ix.Manifests) }
	d, err := s.selectOCI(l, ref)
	if err != nil {
		return nil, err
	}
	s.rootFn = func(context.Context) (image.Descriptor, error) { return d, nil }
	return s, nil
}

func (s *Store) selectOCI(l *ociLayout, ref string) (image.Descriptor, error) {
	entries := l.ix.Manifests
	pick := func(d image.Descriptor) (image.Descriptor, error) {
		s.setFoundName(entryName(d))
		return d, nil
	}
	if n, ok := parseIndexRef(ref); ok {
		if n < 0 || n >= len(entries) {
			return image.Descriptor{}, fmt.Errorf("%w: %q: index.json has %d entries (@0..@%d)", content.ErrNotFound, ref, len(entries), len(entries)-1)
		}
		return pick(entries[n])
	}
	if ref == "" {
		distinct := map[image.Digest]bool{}
		for _, e := range entries {
			distinct[e.Digest] = true
		}
		switch len(distinct) {
		case 0:
			return image.Descriptor{}, fmt.Errorf("%w: the OCI layout's index.json lists no images", content.ErrNotFound)
		case 1:
			return pick(entries[0])
		}
		mt := l.ix.MediaType
		if mt == "" {
			mt = image.MediaTypeOCIIndex
		}
		d := image.Descriptor{MediaType: mt, Digest: image.FromBytes(l.raw), Size: int64(len(l.raw))}
		s.synth[d.Digest] = l.raw
		return d, nil
	}
	if strings.Contains(ref, ":") {
		if dg, err := image.ParseDigest(ref); err == nil {
			for _, e := range entries {
				if e.Digest == dg {
					return pick(e)
				}
			}
			raw, err := readFileLimit(s.fsys, ociBlobPath(image.Descriptor{Digest: dg})[0], maxManifestBytes)
			if err != nil {
				return image.Descriptor{}, fmt.Errorf("%w: no manifest %s in the OCI layout", content.ErrNotFound, dg)
			}
			mt := image.SniffMediaType(raw)
			if !image.IsManifest(mt) {
				return image.Descriptor{}, fmt.Errorf("%w: blob %s is not a manifest (media type %q)", content.ErrBadReference, dg, mt)
			}
			return image.Descriptor{MediaType: mt, Digest: dg, Size: int64(len(raw))}, nil
		}
	}
	var found []int
	for i, e := range entries {
		if matchesRef(e, ref) {
			found = append(found, i)
		}
	}
	if len(found) == 0 {
		return image.Descriptor{}, fmt.Errorf("%w: no image named %q in the OCI layout; it has %s", content.ErrNotFound, ref, describeRefs(entries, nil))
	}
	for _, i := range found[1:] {
		if entries[i].Digest != entries[found[0]].Digest {
			return image.Descriptor{}, fmt.Errorf("%w: %q names %d different images in the OCI layout; use @N or a digest: %s", content.ErrAmbiguous, ref, len(found), describeRefs(entries, found))
		}
	}
	return pick(entries[found[0]])
}

func entryName(d image.Descriptor) string {
	if n := d.Annotations[image.AnnotationContainerdName]; n != "" {
		return n
	}
	return d.Annotations[image.AnnotationRefName]
}

func matchesRef(d image.Descriptor, ref string) bool {
	rn := d.Annotations[image.AnnotationRefName]
	cn := d.Annotations[image.AnnotationContainerdName]
	if ref == rn || ref == cn {
		return true
	}
	nr := NormalizeName(ref)
	if cn != "" && NormalizeName(cn) == nr {
		return true
	}
	// ref.name holding a full reference (ggcr, buildx, regclient write those).
	return strings.ContainsAny(rn, "/:") && NormalizeName(rn) == nr
}

func refNames(entries []image.Descriptor) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range entries {
		for _, k := range []string{image.AnnotationRefName, image.AnnotationContainerdName} {
			if n := e.Annotations[k]; n != "" && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// describeRefs lists entries (those at positions only, when given) as
// "@N name digest".
func describeRefs(entries []image.Descriptor, only []int) string {
	if only == nil {
		for i := range entries {
			only = append(only, i)
		}
	}
	var parts []string
	for _, i := range only {
		e := entries[i]
		n := entryName(e)
		if n == "" {
			n = "(no name)"
		}
		parts = append(parts, fmt.Sprintf("@%d %s %s", i, n, e.Digest.Short()))
	}
	if len(parts) == 0 {
		return "no entries"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// WithTag opens another reference of the same layout or archive. The new
// store shares the file system: close the original, not it.
func (s *Store) WithTag(ctx context.Context, tag string) (content.Store, error) {
	switch s.kind {
	case "docker-archive":
		return DockerSave(ctx, s.fsys, tag, WithLogger(s.log))
	case "dir":
		return nil, fmt.Errorf("%w: a dir: copy holds one image and has no tags", content.ErrBadReference)
	}
	opts := []Option{WithLogger(s.log)}
	if s.onDisk {
		opts = append(opts, onDisk)
	}
	return OCI(ctx, s.fsys, tag, opts...)
}
