package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// Store is one image reference in a registry, read through the
// content.Store interface (plus content.Namer, TagLister and WithTag).
type Store struct {
	repo *Repo
	// ref is the tag or digest the store resolves; display is the
	// reference as shown to users.
	ref     string
	display string

	mu   sync.Mutex
	root *image.Descriptor
	raw  []byte // root manifest bytes, served by Open without a second GET
}

var (
	_ content.Store     = (*Store)(nil)
	_ content.Namer     = (*Store)(nil)
	_ content.TagLister = (*Store)(nil)
	_ content.WithTag   = (*Store)(nil)
)

// ParseReference splits "host/repo:tag", "host/repo@sha256:..." or
// "host/repo:tag@sha256:..." (optionally prefixed "docker://") into the
// repository and the tag or digest to resolve (the digest wins; no tag
// means "latest"). Docker Hub short names are expanded.
func ParseReference(ref string, insecure bool) (repo, tagOrDigest string, err error) {
	s := strings.TrimPrefix(ref, "docker://")
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, perr := name.ParseReference(s, opts...)
	if perr != nil {
		return "", "", fmt.Errorf("%w: %q: %v (want host/repo:tag or host/repo@sha256:<hex>)", content.ErrBadReference, ref, perr)
	}
	repoName := r.Context().RegistryStr() + "/" + r.Context().RepositoryStr()
	if d, ok := r.(name.Digest); ok {
		if _, err := image.ParseDigest(d.DigestStr()); err != nil {
			return "", "", fmt.Errorf("%w: %q: %v", content.ErrBadReference, ref, err)
		}
		return repoName, d.DigestStr(), nil
	}
	return repoName, r.Identifier(), nil
}

// Open returns a Store for an image reference ("host/repo:tag",
// "host/repo@sha256:...", "host/repo:tag@sha256:..."). Nothing is fetched
// until Root or Open is called, apart from authenticating.
func (c *Client) Open(ctx context.Context, ref string) (*Store, error) {
	repoName, id, err := ParseReference(ref, c.opts.Insecure)
	if err != nil {
		return nil, err
	}
	repo, err := c.Repo(ctx, repoName)
	if err != nil {
		return nil, err
	}
	return repo.store(id), nil
}

func (r *Repo) store(id string) *Store {
	sep := ":"
	if isDigest(id) {
		sep = "@"
	}
	return &Store{repo: r, ref: id, display: r.Name() + sep + id}
}

// Repo returns the repository the store reads.
func (s *Store) Repo() *Repo { return s.repo }

// Name returns the reference, e.g. "127.0.0.1:5000/app:1.0".
func (s *Store) Name() string { return s.display }

// Root fetches (once) and returns the descriptor the reference resolves
// to, with the media type the registry reports.
func (s *Store) Root(ctx context.Context) (image.Descriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root != nil {
		return *s.root, nil
	}
	d, raw, err := s.repo.GetManifest(ctx, s.ref)
	if err != nil {
		return image.Descriptor{}, err
	}
	s.root, s.raw = &d, raw
	return d, nil
}

// Open returns a manifest (by media type) or blob, never reading more than
// the declared size plus one byte and stopping when ctx is done. The caller
// verifies blobs; manifests fetched by digest are verified here. A digest
// whose algorithm cannot be verified is refused.
func (s *Store) Open(ctx context.Context, d image.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	if s.root != nil && s.root.Digest == d.Digest && s.raw != nil {
		raw := s.raw
		s.mu.Unlock()
		return io.NopCloser(bytes.NewReader(raw)), nil
	}
	s.mu.Unlock()
	if err := d.Digest.Verifiable(); err != nil {
		return nil, fmt.Errorf("registry %s: %w", s.repo.Name(), err)
	}
	if image.IsManifest(d.MediaType) {
		limit := int64(maxManifestBytes)
		if d.Size > 0 && d.Size < limit {
			limit = d.Size
		}
		_, raw, err := s.repo.getManifest(ctx, string(d.Digest), limit)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(raw)), nil
	}
	rc, err := s.repo.GetBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	return content.Bound(ctx, rc, d), nil
}

// Tags lists the repository's tags.
func (s *Store) Tags(ctx context.Context) ([]string, error) { return s.repo.Tags(ctx) }

// WithTag returns a store for another tag (or digest) of the same repository.
func (s *Store) WithTag(_ context.Context, tag string) (content.Store, error) {
	if err := validRef(tag); err != nil {
		return nil, err
	}
	return s.repo.store(tag), nil
}

// Close releases nothing (connections are pooled by the Client).
func (s *Store) Close() error { return nil }
