package scrub

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrNothingToRemove: the selectors match nothing in the image.
	ErrNothingToRemove = errors.New("nothing to remove")
	// ErrBadSelector: a path glob or findings document cannot be used.
	ErrBadSelector = errors.New("bad removal selector")
	// ErrUnsupported: the image holds something scrub cannot rewrite safely
	// (a schema 1 manifest, a sparse tar entry, a hard link into a lower
	// layer whose target is removed, ...).
	ErrUnsupported = errors.New("cannot scrub this image")
	// ErrInvariant: the rewritten image differs from the original in more
	// than the removed paths, or still holds a removed secret. Nothing was
	// written.
	ErrInvariant = errors.New("scrub invariant violated")
	// ErrDestination: the destination cannot take the image.
	ErrDestination = errors.New("bad scrub destination")
)
