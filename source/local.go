package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/source/archive"
	"github.com/stratascan/strata/source/layout"
)

// openLocal opens an existing file or directory as whatever image it holds:
// an OCI layout or a skopeo dir: copy (directories), a docker save tarball
// or an OCI layout tarball, plain or gzip/zstd-compressed (files).
func openLocal(ctx context.Context, path string, log *slog.Logger) (content.Store, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return openLocalDir(ctx, path, log)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is a %s, not a file or directory", ErrNotImage, path, st.Mode().Type())
	}
	t, err := archive.OpenTarDecompressed(ctx, path, "", 0)
	if err != nil {
		if errors.Is(err, archive.ErrCorrupt) || errors.Is(err, archive.ErrCompressed) {
			return nil, fmt.Errorf("%w: %s is not a tar archive (an image is a docker save or OCI layout tarball, an OCI layout directory or a skopeo dir: copy): %v", ErrNotImage, path, err)
		}
		return nil, err
	}
	var s content.Store
	switch {
	case isFile(t, "manifest.json"): // docker save, both forms (Docker 25+ also has oci-layout)
		s, err = layout.DockerSave(ctx, t, "", layout.WithLogger(log), layout.WithCloser(t))
	case isFile(t, "oci-layout") || isFile(t, "index.json"):
		s, err = layout.OCI(ctx, t, "", layout.WithLogger(log), layout.WithCloser(t))
	default:
		t.Close()
		return nil, fmt.Errorf("%w: %s is a tar archive without manifest.json or oci-layout: a root filesystem tarball, not an image (strata reads docker save and OCI layout tarballs)", ErrNotImage, path)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return s, nil
}

func openLocalDir(ctx context.Context, dir string, log *slog.Logger) (content.Store, error) {
	has := func(n string) bool {
		st, err := os.Stat(filepath.Join(dir, n))
		return err == nil && st.Mode().IsRegular()
	}
	switch {
	case has("oci-layout") || has("index.json"):
		return layout.OpenOCIDir(ctx, dir, "", layout.WithLogger(log))
	case has("manifest.json") && has("version"):
		return layout.OpenDir(ctx, dir, layout.WithLogger(log))
	case has("manifest.json"):
		// A dir: copy without a version file (older skopeo, other tools)
		// has a manifest there; an unpacked docker save has a list.
		if s, err := layout.OpenDir(ctx, dir, layout.WithLogger(log)); !errors.Is(err, layout.ErrNotLayout) {
			return s, err
		}
		return nil, fmt.Errorf("%w: %s holds a manifest.json but no version file: an unpacked docker save? pack it (tar -cf image.tar -C %s .) and pass the tarball", ErrNotImage, dir, dir)
	}
	return nil, fmt.Errorf("%w: directory %s has no oci-layout, index.json or manifest.json (strata reads OCI layout directories and skopeo dir: copies)", ErrNotImage, dir)
}

func isFile(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.Mode().IsRegular()
}
