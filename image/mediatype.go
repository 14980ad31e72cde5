package image

import "strings"

// Media types strata recognises (FIELD-NOTES 1.1).
const (
	MediaTypeOCIIndex          = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIManifest       = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIConfig         = "application/vnd.oci.image.config.v1+json"
	MediaTypeOCIEmpty          = "application/vnd.oci.empty.v1+json"
	MediaTypeOCIArtifact       = "application/vnd.oci.artifact.manifest.v1+json"
	MediaTypeOCILayer          = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeOCILayerGzip      = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeOCILayerZstd      = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeOCIForeign        = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	MediaTypeOCIForeignGzip    = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	MediaTypeOCIForeignZstd    = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
	MediaTypeDockerList        = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerManifest    = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerConfig      = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer       = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeDockerLayerGzip   = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayerZstd   = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	MediaTypeDockerForeign     = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	MediaTypeSchema1           = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeSchema1Signed     = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeBuildKitCache     = "application/vnd.buildkit.cacheconfig.v0"
	MediaTypeInToto            = "application/vnd.in-toto+json"
	MediaTypeDockerAttestation = "application/vnd.docker.attestation.manifest.v1+json"
)

// ManifestAccept is the Accept list sent on every manifest request so that
// every manifest kind comes back as stored (FIELD-NOTES 3.2).
var ManifestAccept = []string{
	MediaTypeOCIIndex,
	MediaTypeOCIManifest,
	MediaTypeDockerList,
	MediaTypeDockerManifest,
	MediaTypeSchema1Signed,
	MediaTypeSchema1,
	MediaTypeOCIArtifact,
}

// IsIndex reports whether mt is an OCI index or Docker manifest list.
func IsIndex(mt string) bool { return mt == MediaTypeOCIIndex || mt == MediaTypeDockerList }

// IsImageManifest reports whether mt is an OCI or Docker v2 image manifest.
func IsImageManifest(mt string) bool {
	return mt == MediaTypeOCIManifest || mt == MediaTypeDockerManifest
}

// IsSchema1 reports whether mt is a Docker schema 1 manifest, signed or not.
func IsSchema1(mt string) bool { return mt == MediaTypeSchema1 || mt == MediaTypeSchema1Signed }

// IsManifest reports whether mt names any manifest kind (something to fetch and parse, not a blob).
func IsManifest(mt string) bool {
	return IsIndex(mt) || IsImageManifest(mt) || IsSchema1(mt) || mt == MediaTypeOCIArtifact
}

// Compression is how a layer blob is compressed.
type Compression string

// Compressions strata reads.
const (
	Uncompressed Compression = "none"
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
	Unknown      Compression = "unknown"
)

// LayerCompression tells a layer media type's compression and whether the
// type is a known layer type at all. Unknown types return (Unknown, false);
// callers sniff the bytes instead (FIELD-NOTES 1.5: media types can lie).
func LayerCompression(mt string) (Compression, bool) {
	switch {
	case mt == MediaTypeDockerLayerGzip || mt == MediaTypeDockerForeign ||
		strings.HasSuffix(mt, ".tar+gzip") || strings.HasSuffix(mt, ".tar.gzip"):
		return Gzip, true
	case strings.HasSuffix(mt, ".tar+zstd") || strings.HasSuffix(mt, ".tar.zstd"):
		return Zstd, true
	case mt == MediaTypeOCILayer || mt == MediaTypeDockerLayer || mt == MediaTypeOCIForeign:
		return Uncompressed, true
	}
	return Unknown, false
}

// IsLayer reports whether mt is a known layer media type.
func IsLayer(mt string) bool {
	_, ok := LayerCompression(mt)
	return ok
}
