// Package pgtest starts a throw-away PostgreSQL server for tests, from the
// binaries of the Debian postgresql package (/usr/lib/postgresql/*/bin):
// initdb into a temporary directory, postgres on a free 127.0.0.1 port with
// its unix socket in that directory, fsync off, stopped when the tests end.
//
// One server is shared by a test binary when its TestMain calls Main; every
// Start then creates a fresh database on it (CREATE DATABASE is fast, a
// server start is not), dropped when the test ends. Without Main each Start
// runs its own server.
//
// initdb and postgres refuse to run as root: as root the server runs as the
// postgres system user (the Debian package creates it), the temporary
// directory handed over to it.
//
// With CI set to a true value a missing postgres installation fails the
// test; elsewhere the test is skipped.
package pgtest
