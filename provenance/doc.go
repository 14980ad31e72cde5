// Package provenance proves which approved base image an application image
// was built on.
//
// The key is the uncompressed layer chain, not compressed digests: an image's
// config lists rootfs.diff_ids (sha256 of each uncompressed layer tar, base
// first) and ChainID(L0..Lk) folds them into one digest per prefix
// (FIELD-NOTES 1.4, 5.5). An application image is built on base B exactly
// when ChainID(app[0..k-1]) == ChainID(B) for B's k layers, whatever
// compression (gzip level, zstd, none) or recompression happened on the way
// to a registry.
//
// The pieces:
//
//   - [Base] is one approved base image, one platform, as recorded by
//     [Inspect] (manifests and configs only; schema 1 images have no config,
//     so their layers are fetched once, verified and decompressed to compute
//     diff_ids, see [Schema1DiffIDs]).
//   - [Store] keeps bases in an embedded SQLite file ([DefaultPath]) and
//     exports/imports them as stable, sorted JSON suitable for keeping in git.
//   - [Index] answers "which approved base is the longest prefix of this
//     chain?" in O(layers) with a map from top ChainID to bases; [Check]
//     applies it to every platform image of a reference.
//
// Layer digests that a registry would serve for a local image depend on the
// compressor; sub-package infer recomputes them for common builders.
package provenance
