package purge

import (
	"context"
	"errors"
	"io"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// Repository is the set of registry operations purge needs on one
// repository. *registry.Repo satisfies it; tests may wrap one to count or
// cut requests.
type Repository interface {
	Tags(ctx context.Context) ([]string, error)
	HeadManifest(ctx context.Context, ref string) (image.Descriptor, error)
	GetManifest(ctx context.Context, ref string) (image.Descriptor, []byte, error)
	PutManifest(ctx context.Context, tag, mediaType string, raw []byte) (image.Digest, error)
	DeleteManifest(ctx context.Context, ref string) error
	HeadBlob(ctx context.Context, d image.Digest) (image.Descriptor, error)
	GetBlob(ctx context.Context, d image.Descriptor) (io.ReadCloser, error)
	PutBlob(ctx context.Context, d image.Digest, size int64, body io.Reader) error
	DeleteBlob(ctx context.Context, d image.Digest) error
	Referrers(ctx context.Context, subject image.Digest, artifactType string) ([]image.Descriptor, bool, error)
}

func isNotFound(err error) bool { return errors.Is(err, content.ErrNotFound) }
