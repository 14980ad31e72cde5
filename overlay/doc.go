// Package overlay computes what the union filesystem of an image shows: for
// every entry of every layer, whether it is present in the final image,
// overwritten by a later layer, or deleted by a later whiteout, opaque
// directory or a directory replaced by a non-directory — and which layer hid
// it. It also derives per-layer statistics (added, modified, deleted, wasted
// bytes) and the final filesystem listing.
//
// Layers can be added in any order and from several goroutines; queries are
// answered once every layer of the stack has been added.
package overlay
