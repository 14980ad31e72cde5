// Package ocidir writes OCI image layouts for strata's own generators (the
// sample image under examples/ and the benchmark images): blobs by digest,
// then a config, a manifest and an index.json naming it. Tests use
// internal/fixture instead, which also drives the real tools.
package ocidir

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/stratascan/strata/image"
)

// BlobPath is where a blob lives in the layout at dir.
func BlobPath(dir string, d image.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm(), d.Hex())
}

// PutBlob stores b under its sha256 digest.
func PutBlob(dir, mediaType string, b []byte) (image.Descriptor, error) {
	d := image.Descriptor{MediaType: mediaType, Digest: image.FromBytes(b), Size: int64(len(b))}
	p := BlobPath(dir, d.Digest)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return d, err
	}
	return d, os.WriteFile(p, b, 0o644)
}

// WriteImage stores cfg, a manifest of layers (already stored with PutBlob)
// and an index.json that names the manifest tag, making dir a layout.
func WriteImage(dir, tag string, cfg image.Config, layers []image.Descriptor) (image.Descriptor, error) {
	cb, err := json.Marshal(cfg)
	if err != nil {
		return image.Descriptor{}, err
	}
	cd, err := PutBlob(dir, image.MediaTypeOCIConfig, cb)
	if err != nil {
		return image.Descriptor{}, err
	}
	mb, err := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cd, Layers: layers})
	if err != nil {
		return image.Descriptor{}, err
	}
	md, err := PutBlob(dir, image.MediaTypeOCIManifest, mb)
	if err != nil {
		return md, err
	}
	ref := md
	ref.Annotations = map[string]string{image.AnnotationRefName: tag}
	ib, err := json.MarshalIndent(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{ref}}, "", "  ")
	if err != nil {
		return md, err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		return md, err
	}
	return md, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}
