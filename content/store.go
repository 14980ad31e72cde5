package content

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/stratascan/strata/image"
)

// Store is a read-only, content-addressed view of one image reference.
// Implementations: registry, source/archive (docker-archive,
// oci-archive), source/layout (oci:, dir:).
type Store interface {
	// Root returns the descriptor the reference resolves to: a manifest or
	// index. Its MediaType is what the source reported.
	Root(ctx context.Context) (image.Descriptor, error)
	// Open returns the raw bytes of a manifest or blob. Callers verify
	// digests (see Verify); implementations need not.
	Open(ctx context.Context, d image.Descriptor) (io.ReadCloser, error)
	// Close releases files and connections.
	Close() error
}

// Namer is implemented by stores that know a human reference for what they
// hold (for example "registry.example/app:1.0").
type Namer interface {
	Name() string
}

// TagLister is implemented by stores that can list the tags of their repository.
type TagLister interface {
	Tags(ctx context.Context) ([]string, error)
}

// WithTag is implemented by stores that can open another tag of the same
// repository (registries, and layouts with several ref names).
type WithTag interface {
	WithTag(ctx context.Context, tag string) (Store, error)
}

// Sentinel errors shared by every source.
var (
	// ErrNotFound: the reference, tag or blob does not exist in the source.
	ErrNotFound = errors.New("not found")
	// ErrDigestMismatch: content does not hash to the digest it was fetched by.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: content is shorter or longer than its descriptor says.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrTooLarge: content exceeds a safety limit.
	ErrTooLarge = errors.New("content too large")
	// ErrAmbiguous: a reference matches several images; name one.
	ErrAmbiguous = errors.New("ambiguous reference")
	// ErrBadReference: the reference string cannot be parsed.
	ErrBadReference = errors.New("bad image reference")
)

// DigestError says which object failed verification.
type DigestError struct {
	Want, Got image.Digest
	What      string // "manifest", "config", "layer 3", ...
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s %s: content hashes to %s: the source is corrupt or was tampered with; re-fetch it", e.What, e.Want, e.Got)
}

// Unwrap lets errors.Is(err, ErrDigestMismatch) match.
func (e *DigestError) Unwrap() error { return ErrDigestMismatch }
