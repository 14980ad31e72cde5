// Package content defines the content-addressed Store interface every image
// source implements, the sentinel errors they share, the verifying reader
// that checks each blob against its digest (sha256 or sha512; others are
// refused) while it streams, and Bound, which sources wrap around what they
// open so no read goes past the declared size plus one byte or outlives its
// context.
//
// It is a leaf package (it imports only image): registry, source/archive and
// source/layout implement Store; package source parses references, picks one
// of them and loads the image model from it. Keeping it at the top level means
// no import runs back up from a source to the registry client or vice versa.
package content
