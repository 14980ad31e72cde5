// Package scrub rewrites a container image without a leaked secret and
// keeps every other byte: layers that hold nothing to remove are reused as
// their exact blobs (same digest, no recompression); a layer that does is
// re-tarred with the headers it had (PAX records, xattrs, names, times),
// dropping only the removed entries, and recompressed as the original was
// (gzip at a level matching the original's header, zstd, or none).
//
// The work is plan -> review -> apply:
//
//   - NewPlan reads the image (any source.Store), decides what goes (paths
//     by glob, findings of a `strata scan --format json` run: files, archive
//     members, config fields and history build-arg values; Env, Labels and
//     build args by name), rewrites the affected layers into a local staging
//     directory, rebuilds configs, manifests and the index, and checks the
//     invariants (Plan.Verification says what was checked) before anything
//     is written anywhere. Decisions need every layer's listing (paths,
//     types, hard link targets): with Options.Cache they come from the scan
//     cache, recorded by a walk that verified the blob's digest, and only
//     the layers that change are read, once; otherwise one verified walk
//     lists each layer and keeps the uncompressed stream of a layer a
//     selector touches, which its rewrite reads instead of decompressing
//     the blob again (Plan.Reads counts both). The Plan is
//     a plain value: a table or JSON for review, with the layers rewritten
//     (bytes before and after), the layers reused, the config fields
//     changed, the attestations and signatures dropped.
//   - Apply writes the planned image to a destination: an OCI layout
//     (oci:), an oci-archive, a docker-archive loadable by docker load and
//     podman load, or a registry repository (untouched blobs mounted from
//     the source repository when it is on the same registry, else
//     uploaded).
//   - PlanReplace lists the tags that move and what purge is expected to
//     delete; Replace pushes the result to every tag that pointed at the old
//     digest and hands the old digest to package purge (plan from a fresh
//     inventory, then apply), with a journal that ResumeReplace replays.
//
// # Invariants
//
// NewPlan checks, from the bytes actually staged (each rewritten blob is
// decompressed and walked again by a concurrent reader of its compressed
// bytes as they are written, and must decode to the diff_id and sizes
// recorded; whoever reads a staged blob later gets its digest checked):
// every rewritten layer holds exactly the original's entries minus the removed ones (same
// headers and contents; archives rewritten without the removed members);
// the final filesystem equals the original's except for the removed paths
// (entries, modes, owners, times, link targets, contents: untouched layers
// are the same bytes, so their listings stand for them and only the
// rewritten layers' entries are compared in full); a path the
// original deleted stays absent; untouched layers keep their digests; the
// config's rootfs matches the layers; and, when a secret engine is given, a
// rescan of the result finds none of the removed fingerprints (those of the
// findings, and of the secrets the engine finds in removed files).
//
// A sparse file in a layer that must be rewritten is refused: Go's
// archive/tar cannot write sparse entries, and writing the holes as zeros
// would change the entry. Removing the sparse file itself is fine.
//
// Secret values are never stored in a Plan, logged or printed: config
// values are replaced by "<redacted by strata>" and the plan names fields,
// never their values.
package scrub
