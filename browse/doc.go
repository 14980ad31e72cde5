// Package browse is the model of an interactive terminal browser of one
// image (Bubble Tea): a layers pane (index, build step with secret-looking
// build-arg values masked, size, added/modified/deleted counts, wasted
// bytes, a marker on layers with findings) over a filesystem pane (the tree
// as of the selected layer or that layer's own changes, every entry's
// overlay state, deleted-but-recoverable files marked, a path-glob filter,
// collapse/expand, sort by size), a text-file viewer with secrets masked
// and a key that saves the selected entry through inspect.Extract.
//
// The layer walk (inspect.Analyze) runs in the background while a progress
// bar shows the compressed bytes read. The model never prints or exits: a
// caller runs it with tea.NewProgram. Every background task runs under the
// context given to New.
package browse
