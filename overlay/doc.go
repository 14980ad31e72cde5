// Package overlay computes what the union filesystem of an image shows: for
// every entry of every layer, whether it is present in the final image,
// overwritten by a later layer, or deleted by a later whiteout, opaque
// directory or a directory replaced by a non-directory — and which layer hid
// it. It also derives per-layer statistics (added, modified, deleted, wasted
// bytes) and the final filesystem listing.
//
// Within one layer the last entry for a path wins, as tar extraction does
// (an earlier duplicate is "overwritten" by its own layer), and entries
// flagged unsafe (names that climb out of the root, such as "../.wh.top")
// are never applied. ls, cat and extract (package inspect) all follow these
// rules. The work is linear in the entries and the length of their names.
//
// Layers can be added in any order and from several goroutines; queries are
// answered once every layer of the stack has been added.
package overlay
