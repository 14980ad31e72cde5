package provenance

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// Schema1DiffIDs computes the diff_ids of a schema 1 image the way the
// Docker engine did on pull (FIELD-NOTES 1.9): base first, throwaway entries
// and consecutive duplicate v1 ids dropped ([image.Schema1.Layers]); every
// other blob is fetched once (identical blobSums share one fetch), verified
// against its blobSum, sniffed (gzip, zstd or an uncompressed tar) and
// decompressed, and the tar's sha256 is its diff_id. The well-known gzipped
// empty tar (a3ed95ca…) is not fetched: its diff_id is the empty tar's.
//
// It returns the diff_ids and the blobSums of the layers they belong to.
func Schema1DiffIDs(ctx context.Context, s content.Store, m *image.Schema1, log *slog.Logger) (diffIDs, blobSums []image.Digest, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	layers, _, err := m.Layers()
	if err != nil {
		return nil, nil, err
	}
	known := map[image.Digest]image.Digest{image.Schema1ThrowawayBlob: image.EmptyLayerDiffID}
	for i, l := range layers {
		d, ok := known[l.BlobSum]
		if !ok {
			log.Debug("fetching schema 1 layer to compute its diff_id", "layer", i, "blobSum", l.BlobSum)
			d, err = BlobDiffID(ctx, s, image.Descriptor{MediaType: image.MediaTypeDockerLayerGzip, Digest: l.BlobSum, Size: -1}, fmt.Sprintf("schema 1 layer %d", i))
			if err != nil {
				return nil, nil, err
			}
			known[l.BlobSum] = d
		}
		diffIDs = append(diffIDs, d)
		blobSums = append(blobSums, l.BlobSum)
	}
	return diffIDs, blobSums, nil
}

// BlobDiffID reads one layer blob from s, verifies it against desc, and
// returns the sha256 of its uncompressed content.
func BlobDiffID(ctx context.Context, s content.Store, desc image.Descriptor, what string) (image.Digest, error) {
	rc, err := s.Open(ctx, desc)
	if err != nil {
		return "", fmt.Errorf("open %s %s: %w", what, desc.Digest, err)
	}
	defer rc.Close()
	v := content.Verify(rc, desc, what)
	r, _, closeFn, err := Decompress(v)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", what, desc.Digest, err)
	}
	defer closeFn()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		// A corrupt blob usually breaks the decompressor first; say that
		// the blob does not match its digest when that is the cause.
		if _, derr := io.Copy(io.Discard, v); derr != nil && errors.Is(derr, content.ErrDigestMismatch) {
			return "", derr
		}
		return "", fmt.Errorf("%s %s: %w", what, desc.Digest, err)
	}
	// Drain what the decompressor left so the Verifier checks the digest.
	if _, err := io.Copy(io.Discard, v); err != nil {
		return "", err
	}
	return image.FromSum(h.Sum(nil)), nil
}
