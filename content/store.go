package content

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
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

// Verifier hashes what passes through it and checks the digest and size once
// the stream ends. Use it on every blob read so a truncated or tampered blob
// is an error, never a silent pass.
type Verifier struct {
	r    io.Reader
	d    image.Descriptor
	what string
	h    hash.Hash
	n    int64
	err  error
}

// Verify wraps r so that reading to EOF checks d's digest and size. Unknown
// algorithms are passed through unverified (the walk still reports them).
func Verify(r io.Reader, d image.Descriptor, what string) *Verifier {
	v := &Verifier{r: r, d: d, what: what}
	if d.Digest.Algorithm() == "sha256" {
		v.h = sha256.New()
	}
	return v
}

func (v *Verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	if n > 0 {
		v.n += int64(n)
		if v.h != nil {
			v.h.Write(p[:n])
		}
		if v.d.Size >= 0 && v.n > v.d.Size {
			v.err = fmt.Errorf("%w: %s %s: more than the %d bytes its descriptor declares", ErrSizeMismatch, v.what, v.d.Digest, v.d.Size)
			return n, v.err
		}
	}
	if err == io.EOF {
		if v.d.Size >= 0 && v.n != v.d.Size {
			v.err = fmt.Errorf("%w: %s %s: got %d of %d bytes (truncated)", ErrSizeMismatch, v.what, v.d.Digest, v.n, v.d.Size)
			return n, v.err
		}
		if v.h != nil {
			if got := image.FromSum(v.h.Sum(nil)); got != v.d.Digest {
				v.err = &DigestError{Want: v.d.Digest, Got: got, What: v.what}
				return n, v.err
			}
		}
		v.err = io.EOF
	} else if err != nil {
		v.err = err
		if errors.Is(err, io.ErrUnexpectedEOF) {
			v.err = fmt.Errorf("%w: %s %s: stream ended after %d bytes: %v", ErrSizeMismatch, v.what, v.d.Digest, v.n, err)
		}
	}
	return n, v.err
}

// N returns how many bytes have passed.
func (v *Verifier) N() int64 { return v.n }

// ReadAll fetches d from s with a size cap and verifies it.
func ReadAll(ctx context.Context, s Store, d image.Descriptor, what string, limit int64) ([]byte, error) {
	if d.Data != nil && int64(len(d.Data)) == d.Size && image.FromBytes(d.Data) == d.Digest {
		return d.Data, nil
	}
	if d.Size > limit {
		return nil, fmt.Errorf("%w: %s %s is %d bytes, over the %d byte limit", ErrTooLarge, what, d.Digest, d.Size, limit)
	}
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", what, d.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(Verify(rc, d, what), limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s %s exceeds %d bytes", ErrTooLarge, what, d.Digest, limit)
	}
	return b, nil
}
