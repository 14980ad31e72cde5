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
// # Other clients pushing during a purge
//
// A registry has no transaction spanning a purge: another client may push
// while it runs, and a new image may use a blob the plan deletes (an image
// built on the leaked one, a signature sharing the empty config). Apply
// therefore re-reads the tag list right before the blob deletes, walks every
// current tag's manifests and their referrers (API, fallback and cosign
// tags), and keeps each planned blob a present manifest uses (outcome
// in-use). It reads each blob into memory just before its DELETE (bounded
// by ApplyOptions.RestoreLimit); after the last DELETE it waits
// ApplyOptions.Settle, because a registry validates a manifest's blobs
// before it stores the manifest and its tag, then checks again and uploads
// back every deleted blob a present manifest now uses (restored). Verify
// re-lists the tags and checks every tag present then; when the changes
// touch the plan the verdict is VerdictChanged and Report.Changed says what
// was kept for whom.
//
// The residual window: a push the registry validates before a blob DELETE
// but commits after the final check (longer than Settle), a blob larger
// than the restore budget, an image pushed in parts whose index is tagged
// only after the purge (its platform manifest, pushed by digest, is
// invisible until then), an index pushed during the purge that lists a
// manifest the plan deletes, and a purge interrupted during the blob
// deletes (the bytes held are gone; Resume reports such blobs lost). To
// close it, stop other writers for the duration of the purge: pull-only
// access for every other account, or a front proxy refusing PUT, POST and
// PATCH. distribution's storage.maintenance.readonly mode does not serve:
// it refuses DELETE as well.
//
// Registry behaviour relied on: the OCI distribution-spec (deletes,
// referrers API and fallback tags), distribution 2.8 and 3.x (tag DELETE,
// blob unlinking, garbage collection).
package purge
