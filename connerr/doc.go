// Package connerr says why a connection to a server failed: nothing
// listening (refused), a name that does not resolve, a socket file that does
// not exist or may not be opened, a TLS failure, a timeout, or a server that
// answered plain HTTP where HTTPS was expected.
//
// Registries and local engines (the Docker Engine API, Podman, containerd)
// wrap their dial and handshake failures in an *Error so that a caller can
// word the remedy for its own interface (a command-line tool names its
// flags; the library never does) with errors.As and Error.Kind.
package connerr
