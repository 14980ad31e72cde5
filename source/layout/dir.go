package layout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/stratascan/strata/image"
)

// Dir opens a skopeo dir: copy held by fsys (FIELD-NOTES 1.8): a "version"
// file ("Directory Transport Version: 1.x"), manifest.json (an image
// manifest, or an index with --multi-arch whose instances are
// <hex>.manifest.json) and blobs as files named by their hex digest only.
// The root is manifest.json. Older skopeo releases and other tools write
// copies without the version file: those are read when manifest.json is a
// recognisable manifest.
func Dir(ctx context.Context, fsys fs.FS, opts ...Option) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hasVersion, err := checkDirVersion(fsys)
	if err != nil {
		return nil, err
	}
	raw, err := readFileLimit(fsys, "manifest.json", maxManifestBytes)
	if err != nil {
		if !hasVersion && errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: neither a version file nor a manifest.json, so this is not a dir: copy (an OCI layout? use oci:)", ErrNotLayout)
		}
		return nil, fmt.Errorf("dir: copy: read manifest.json: %w", err)
	}
	mt := image.SniffMediaType(raw)
	if mt == "" {
		if !hasVersion {
			return nil, fmt.Errorf("%w: no version file and manifest.json is not a recognisable manifest, so this is not a dir: copy", ErrNotLayout)
		}
		if _, err := image.ParseManifest("", raw); err != nil {
			return nil, fmt.Errorf("dir: copy: manifest.json: %w", err)
		}
		return nil, fmt.Errorf("%w: dir: copy: manifest.json has no recognisable manifest media type", image.ErrMalformed)
	}
	s := newStore(fsys, "dir", "", opts)
	root := image.Descriptor{MediaType: mt, Digest: image.FromBytes(raw), Size: int64(len(raw))}
	s.synth[root.Digest] = raw
	s.blobPath = func(d image.Descriptor) []string {
		h := d.Digest.Hex()
		if image.IsManifest(d.MediaType) {
			return []string{h + ".manifest.json", h}
		}
		return []string{h, h + ".manifest.json"}
	}
	s.rootFn = func(context.Context) (image.Descriptor, error) { return root, nil }
	return s, nil
}

// checkDirVersion reads the version file of a dir: copy: absent is fine
// (false), present must say 1.x.
func checkDirVersion(fsys fs.FS) (bool, error) {
	v, err := readFileLimit(fsys, "version", 4096)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read version: %w", err)
	}
	if !strings.HasPrefix(string(v), "Directory Transport Version: 1.") {
		return true, fmt.Errorf("%w: version file says %q; strata reads \"Directory Transport Version: 1.x\"", image.ErrUnsupported, strings.TrimSpace(string(v)))
	}
	return true, nil
}
