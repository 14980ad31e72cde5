// Package content defines the content-addressed Store interface every image
// source implements, the sentinel errors they share, and the verifying reader
// that checks each blob against its digest while it streams.
//
// It is a leaf package (it imports only image): registry, source/archive and
// source/layout implement Store; package source parses references, picks one
// of them and loads the image model from it. Keeping it at the top level means
// no import runs back up from a source to the registry client or vice versa.
package content
