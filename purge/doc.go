// Package purge removes a leaked image from a registry repository so that it
// can no longer be pulled, and touches nothing else.
//
// The work is split into plain steps a caller can test and review:
//
//   - Take builds an Inventory of one repository (read-only, concurrency
//     bounded): every tag, every manifest reachable from a tag or a referrer,
//     and the blobs each manifest references.
//   - NewPlan is pure: from an Inventory and the targets it decides which
//     tags, manifests and blobs go, which blobs stay and why, which other tags
//     would break or leak too, and whether the purge must be refused.
//   - Apply executes a Plan in a safe order (referrers, tags, indexes, child
//     manifests, blobs), journalling every request so Resume can finish an
//     interrupted run without redoing or overreaching.
//   - Verify proves the result: deleted content answers 404, surviving tags
//     still resolve to the same digests and are fully retrievable.
//   - HandOff explains what only the registry operator can finish (garbage
//     collection, restarts, hosted-registry procedures).
//   - Where finds every repository, tag and manifest referencing a blob.
//
// See FIELD-NOTES sections 3 and 4 for the registry behaviour this relies on.
package purge
