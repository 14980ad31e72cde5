// Package registrytest runs real registries for tests: distribution v3
// embedded in the test process (NewEmbedded: its Go packages behind an
// httptest server) and the Debian docker-registry 2.8 binary (StartDebian),
// each with a filesystem root under t.TempDir(), optional htpasswd Basic
// auth, optional TLS from a CA generated in Go, delete enabled unless asked
// otherwise, garbage collection and restart, and optional notification
// endpoints (Options.Notify) that the registry POSTs its push events to. It also pushes images: from an
// OCI layout with real skopeo (PushLayout) or raw bytes through the strata
// registry client (PushBlob, PushManifest, PushImage) for malformed cases.
//
// Every registry listens on 127.0.0.1 only and is stopped by t.Cleanup.
package registrytest
