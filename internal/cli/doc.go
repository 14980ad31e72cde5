// Package cli holds strata's cobra commands. Each command is a thin adapter:
// it parses flags, opens the image through package source, calls a library
// package, and renders the result through package report. Nothing here is
// imported by library code.
package cli
