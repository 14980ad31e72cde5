package archive

import (
	"context"
	"fmt"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/source/layout"
)

// OpenDockerArchive opens a `docker save` tarball (legacy or Docker 25+
// form) at path without unpacking it and selects ref (a RepoTag, "@N" or
// ""; see layout.DockerSave). A gzip- or zstd-compressed tarball is
// decompressed once to a temporary file (OpenTarDecompressed with the
// default limit). The store owns the file: Close it.
func OpenDockerArchive(ctx context.Context, path, ref string, opts ...layout.Option) (content.Store, error) {
	t, err := OpenTarDecompressed(ctx, path, "", 0)
	if err != nil {
		return nil, fmt.Errorf("docker-archive: %w", err)
	}
	s, err := layout.DockerSave(ctx, t, ref, append(opts, layout.WithCloser(t))...)
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("docker-archive %s: %w", path, err)
	}
	return s, nil
}

// OpenOCIArchive opens an OCI image layout packed in a tarball (an
// oci-archive:, `buildx -o type=oci`) at path and selects ref (see
// layout.OCI). Compressed tarballs are handled as by OpenDockerArchive. The
// store owns the file: Close it.
func OpenOCIArchive(ctx context.Context, path, ref string, opts ...layout.Option) (content.Store, error) {
	t, err := OpenTarDecompressed(ctx, path, "", 0)
	if err != nil {
		return nil, fmt.Errorf("oci-archive: %w", err)
	}
	s, err := layout.OCI(ctx, t, ref, append(opts, layout.WithCloser(t))...)
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("oci-archive %s: %w", path, err)
	}
	return s, nil
}
