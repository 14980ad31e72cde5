// Package inspect walks the layers of a loaded image from its store: every
// layer is streamed once, verified (digest, size, diff_id) and its tar
// entries collected, with bounded concurrency. On top of that it answers the
// questions strata's read-only commands ask: what each layer added, changed
// and deleted (via package overlay), the bytes of one file in one layer
// (deleted files included), and a safe extraction to a directory.
package inspect
