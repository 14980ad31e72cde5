// Package infer predicts the layer digests a registry would serve for a
// local image, by recompressing each layer's uncompressed tar the way common
// builders do, and says which builder profile reproduces the digests a
// registry actually serves.
//
// Such digests are fragile (FIELD-NOTES 5.4): they depend on the exact
// compressor implementation and version, its level and header fields. The
// profiles here use the Go toolchain this binary was built with (Go 1.27
// replaced the stdlib deflate encoder, so Go ≤ 1.26 and ≥ 1.27 builds
// disagree) and the klauspost/compress and pgzip versions in go.mod;
// [Versions] reports them. To prove base-image provenance use diff_ids and
// ChainIDs (package provenance), which no recompression changes.
package infer
