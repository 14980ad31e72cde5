// Package inspect walks the layers of a loaded image from its store: every
// layer is streamed once, verified (digest, size, diff_id) and its tar
// entries collected, with bounded concurrency. On top of that it answers the
// questions strata's read-only commands ask: what each layer added, changed
// and deleted (via package overlay), the bytes of one file in one layer
// (deleted files included), and a safe extraction to a directory.
//
// Listing (Analysis), ReadFile and Extract apply one set of rules: the last
// entry for a path in a layer wins, entries that climb out of the root are
// reported and never applied, and a hard link holds the bytes of the file
// at its target earlier in its own layer. Sparse files count at their
// logical size against every byte cap and are extracted with holes.
package inspect
