// Package image is strata's read-only model of a container image: descriptors,
// media types, manifests of every kind (OCI and Docker indexes and manifests,
// Docker schema 1, BuildKit cache configs, attestations, generic artifacts),
// image configs with their history, and layer identity (diff_ids, ChainIDs).
//
// It does no I/O and imports nothing else of strata's: every function here
// parses bytes or derives values. Sources (package source and below) fetch the
// bytes; this package gives them meaning.
package image
