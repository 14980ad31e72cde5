// Package layer walks one layer blob as a verified stream: it sniffs the
// compression (gzip, zstd or none, whatever the media type claims), checks
// the compressed digest and size and the diff_id in a single pass, and calls
// back once per tar entry with a cleaned path, the entry's kind (including
// whiteouts and opaque-directory markers) and, for regular files, a reader of
// the content.
//
// The walk always drains the blob to its end, so a digest check fires even
// when the callback reads nothing; a mismatch, a truncated stream or an
// oversized (bomb) layer is an error naming the blob, never a silent pass.
package layer
