// Package source opens container images from wherever a user keeps them.
//
// A reference uses skopeo's transport syntax: docker://REF for a registry,
// docker-archive:PATH[:REF], oci:DIR[:REF], oci-archive:PATH[:REF] and
// dir:DIR for files, docker-daemon:, podman: and containerd: for local
// engines (packages source/daemon and source/containerd), and
// containers-storage: for a local Podman or Buildah store read directly
// (package source/storage). A bare argument is an existing file or
// directory when one exists (opened as whatever image it holds), a local
// error when it only looks like a path, an ErrUnknownTransport error when
// it looks like a typo'd transport, and a registry reference otherwise.
//
// Open parses the reference and returns a Store, the one small read-only
// interface every source implements: a root descriptor plus
// content-addressed fetches. Load (LoadWith, to narrow it to one platform)
// walks a Store into strata's image model, verifying every manifest and
// config against its digest; the manifest graph is loaded as a DAG (each
// digest once) with its depth and size bounded.
//
// Optional capabilities (listing tags, for instance) are separate small
// interfaces that a Store may also implement.
package source
