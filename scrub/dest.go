package scrub

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source"
)

// blob is one object of the result to write.
type blob struct {
	d        image.Descriptor
	manifest bool
}

// Blobs lists every object of the scrubbed image, dependencies first
// (layers and configs, then manifests, the root last).
func (p *Plan) blobs(ctx context.Context) ([]blob, *image.Node, error) {
	p.stage.root = p.NewRoot
	root, err := source.Load(ctx, p.stage, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("%w: load the scrubbed image: %w", ErrInvariant, err)
	}
	var out []blob
	seen := map[image.Digest]bool{}
	add := func(b blob) {
		if !seen[b.d.Digest] {
			seen[b.d.Digest] = true
			out = append(out, b)
		}
	}
	var walk func(n *image.Node)
	walk = func(n *image.Node) {
		for _, c := range n.Children {
			walk(c)
		}
		if n.Image != nil {
			for _, l := range n.Image.Layers {
				add(blob{d: l.Descriptor})
			}
			if n.Image.ConfigRef.Digest != "" {
				add(blob{d: n.Image.ConfigRef})
			}
		}
		if n.Parsed == nil {
			add(blob{d: n.Descriptor})
			return
		}
		add(blob{d: n.Descriptor, manifest: true})
	}
	walk(root)
	return out, root, nil
}

// copyBlob writes blob d to w, verified.
func (p *Plan) copyBlob(ctx context.Context, d image.Descriptor, w io.Writer) error {
	rc, err := p.stage.Open(ctx, d)
	if err != nil {
		return fmt.Errorf("open %s: %w", d.Digest, err)
	}
	defer rc.Close()
	_, err = io.Copy(w, content.Verify(rc, d, "blob"))
	return err
}

// WriteOCI adds the scrubbed image to the OCI layout at dir (created if
// needed) under the ref name tag (none when empty), replacing an entry of
// the same name.
func (p *Plan) WriteOCI(ctx context.Context, dir, tag string) error {
	bs, _, err := p.blobs(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrDestination, err)
	}
	for _, b := range bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.writeBlobFile(ctx, dir, b.d); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}
	idx := image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex}
	if raw, err := os.ReadFile(filepath.Join(dir, "index.json")); err == nil {
		if err := json.Unmarshal(raw, &idx); err != nil {
			return fmt.Errorf("%w: %s/index.json: %v", ErrDestination, dir, err)
		}
	}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if tag == "" || m.Annotations[image.AnnotationRefName] != tag {
			kept = append(kept, m)
		}
	}
	ref := image.Descriptor{MediaType: p.NewRoot.MediaType, Digest: p.NewRoot.Digest, Size: p.NewRoot.Size, Platform: p.NewRoot.Platform}
	if tag != "" {
		ref.Annotations = map[string]string{image.AnnotationRefName: tag}
	}
	idx.Manifests = append(kept, ref)
	raw, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644)
}

func (p *Plan) writeBlobFile(ctx context.Context, dir string, d image.Descriptor) error {
	dst := filepath.Join(dir, "blobs", d.Digest.Algorithm(), d.Digest.Hex())
	if st, err := os.Stat(dst); err == nil && st.Size() == d.Size {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDestination, err)
	}
	defer os.Remove(f.Name())
	if err := p.copyBlob(ctx, d, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

// archiveWriter writes a layout-shaped tar.
type archiveWriter struct {
	tw *tar.Writer
}

func (a *archiveWriter) file(name string, size int64, body func(io.Writer) error) error {
	if err := a.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	return body(a.tw)
}

func (a *archiveWriter) bytes(name string, b []byte) error {
	return a.file(name, int64(len(b)), func(w io.Writer) error { _, err := w.Write(b); return err })
}

// writeArchive writes an OCI layout as a tar to path, with extra files
// (manifest.json for docker-archive) after the layout.
func (p *Plan) writeArchive(ctx context.Context, path string, index image.Index, extra map[string][]byte) error {
	bs, _, err := p.blobs(ctx)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDestination, err)
	}
	defer f.Close()
	a := &archiveWriter{tw: tar.NewWriter(f)}
	if err := a.bytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	for _, b := range bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := a.file("blobs/sha256/"+b.d.Digest.Hex(), b.d.Size, func(w io.Writer) error { return p.copyBlob(ctx, b.d, w) }); err != nil {
			return err
		}
	}
	ib, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := a.bytes("index.json", ib); err != nil {
		return err
	}
	for _, name := range []string{"manifest.json", "repositories"} {
		if b, ok := extra[name]; ok {
			if err := a.bytes(name, b); err != nil {
				return err
			}
		}
	}
	if err := a.tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// WriteOCIArchive writes the scrubbed image as an oci-archive tar.
func (p *Plan) WriteOCIArchive(ctx context.Context, path, tag string) error {
	ref := image.Descriptor{MediaType: p.NewRoot.MediaType, Digest: p.NewRoot.Digest, Size: p.NewRoot.Size}
	if tag != "" {
		ref.Annotations = map[string]string{image.AnnotationRefName: tag}
	}
	return p.writeArchive(ctx, path, image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{ref}}, nil)
}

// dockerManifest is one entry of a docker save manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteDockerArchive writes one image of the result as a docker-archive
// (the Docker 25+ form: an OCI layout plus manifest.json naming Config,
// RepoTags and Layers), which docker load and podman load read. platform
// picks the image of an index (nil: the only one).
func (p *Plan) WriteDockerArchive(ctx context.Context, path string, repoTags []string, platform *image.Platform) error {
	_, root, err := p.blobs(ctx)
	if err != nil {
		return err
	}
	ims, err := source.Select(root, platform, false)
	if err != nil {
		return fmt.Errorf("%w: docker-archive holds one image: %v", ErrDestination, err)
	}
	if len(ims) != 1 {
		return fmt.Errorf("%w: docker-archive holds one image; pick a platform", ErrDestination)
	}
	im := ims[0]
	dm := dockerManifest{Config: "blobs/sha256/" + im.ConfigRef.Digest.Hex(), RepoTags: repoTags, Layers: []string{}}
	for _, l := range im.Layers {
		dm.Layers = append(dm.Layers, "blobs/sha256/"+l.Descriptor.Digest.Hex())
	}
	if dm.RepoTags == nil {
		dm.RepoTags = []string{}
	}
	mj, err := json.Marshal([]dockerManifest{dm})
	if err != nil {
		return err
	}
	ref := image.Descriptor{MediaType: im.Manifest.MediaType, Digest: im.Manifest.Digest, Size: im.Manifest.Size}
	if len(repoTags) > 0 {
		ref.Annotations = map[string]string{image.AnnotationContainerdName: repoTags[0], image.AnnotationRefName: repoTags[0]}
	}
	return p.writeArchive(ctx, path, image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{ref}},
		map[string][]byte{"manifest.json": mj})
}

// PushStats says how blobs reached a registry.
type PushStats struct {
	Present  int   `json:"present"`  // already in the repository
	Mounted  int   `json:"mounted"`  // cross-repository mounts
	Uploaded int   `json:"uploaded"` // uploads
	Bytes    int64 `json:"bytesUploaded"`
}

// Push writes the scrubbed image to repo: blobs the repository lacks are
// mounted from mountFrom (a repository path on the same registry, "" for
// none) or uploaded; child manifests go by digest, the root under each tag
// (by digest when tags is empty).
func (p *Plan) Push(ctx context.Context, repo *registry.Repo, tags []string, mountFrom string) (PushStats, error) {
	var st PushStats
	bs, _, err := p.blobs(ctx)
	if err != nil {
		return st, err
	}
	for _, b := range bs {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if b.d.Digest == p.NewRoot.Digest {
			continue
		}
		if b.manifest {
			raw, err := content.ReadAll(ctx, p.stage, b.d, "manifest", 8<<20)
			if err != nil {
				return st, err
			}
			if _, err := repo.PutManifest(ctx, "", b.d.MediaType, raw); err != nil {
				return st, err
			}
			continue
		}
		if err := p.pushBlob(ctx, repo, b.d, mountFrom, &st); err != nil {
			return st, err
		}
	}
	raw, err := content.ReadAll(ctx, p.stage, p.NewRoot, "manifest", 8<<20)
	if err != nil {
		return st, err
	}
	if len(tags) == 0 {
		tags = []string{""}
	}
	for _, t := range tags {
		if _, err := repo.PutManifest(ctx, t, p.NewRoot.MediaType, raw); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (p *Plan) pushBlob(ctx context.Context, repo *registry.Repo, d image.Descriptor, mountFrom string, st *PushStats) error {
	if _, err := repo.HeadBlob(ctx, d.Digest); err == nil {
		st.Present++
		return nil
	} else if !errors.Is(err, content.ErrNotFound) {
		return err
	}
	if mountFrom != "" && mountFrom != repo.Path() && !p.stage.staged(d.Digest) {
		ok, err := repo.MountBlob(ctx, d.Digest, mountFrom)
		if err != nil {
			return err
		}
		if ok {
			st.Mounted++
			return nil
		}
	}
	rc, err := p.stage.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	if b, ok := p.stage.blobs[d.Digest]; ok {
		rc = io.NopCloser(bytes.NewReader(b))
	}
	if err := repo.PutBlob(ctx, d.Digest, d.Size, content.Verify(rc, d, "blob")); err != nil {
		return err
	}
	st.Uploaded++
	st.Bytes += d.Size
	return nil
}

// Destination names where Apply writes.
type Destination struct {
	// Ref is a skopeo-style reference: oci:DIR[:TAG], oci-archive:PATH[:TAG],
	// docker-archive:PATH[:REPO:TAG], or a registry REPO:TAG (docker://).
	Ref string
	// Client opens registry references.
	Client *registry.Client
	// Insecure allows plain HTTP for registry references.
	Insecure bool
	// Platform picks the image of an index for docker-archive.
	Platform *image.Platform
	// MountFrom is the source repository path, for cross-repository
	// mounts when the destination is on the same registry.
	MountFrom string
}

// Applied says what Apply wrote.
type Applied struct {
	Destination string           `json:"destination"`
	Root        image.Descriptor `json:"root"`
	Push        *PushStats       `json:"push,omitempty"`
}

// Apply writes the plan's image to dest.
func (p *Plan) Apply(ctx context.Context, dest Destination) (*Applied, error) {
	r, err := source.ParseReference(dest.Ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDestination, err)
	}
	out := &Applied{Destination: r.String(), Root: p.NewRoot}
	switch r.Transport {
	case source.TransportOCI:
		err = p.WriteOCI(ctx, r.Path, r.Ref)
	case source.TransportOCIArchive:
		err = p.WriteOCIArchive(ctx, r.Path, r.Ref)
	case source.TransportDockerArchive:
		var tags []string
		if r.Ref != "" {
			tags = []string{r.Ref}
		}
		err = p.WriteDockerArchive(ctx, r.Path, tags, dest.Platform)
	case source.TransportRegistry:
		st, perr := p.pushRef(ctx, dest, r.Path)
		out.Push, err = &st, perr
	default:
		err = fmt.Errorf("%w: %s cannot be written; use oci:, oci-archive:, docker-archive: or a registry", ErrDestination, r.Transport)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Plan) pushRef(ctx context.Context, dest Destination, ref string) (PushStats, error) {
	if dest.Client == nil {
		return PushStats{}, fmt.Errorf("%w: a registry destination needs a registry client", ErrDestination)
	}
	repoName, id, err := registry.ParseReference(ref, dest.Insecure)
	if err != nil {
		return PushStats{}, fmt.Errorf("%w: %v", ErrDestination, err)
	}
	repo, err := dest.Client.Repo(ctx, repoName)
	if err != nil {
		return PushStats{}, err
	}
	var tags []string
	if _, derr := image.ParseDigest(id); derr != nil && id != "" {
		tags = []string{id}
	}
	return p.Push(ctx, repo, tags, dest.MountFrom)
}
