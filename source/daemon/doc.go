// Package daemon reads images from a Docker Engine API: Docker itself
// (docker-daemon:NAME[:TAG]|ID) and Podman's compatible API service
// (podman:NAME[:TAG]|ID, `podman system service`).
//
// The endpoint is found as the docker and podman command-line tools find it:
// DockerEndpoint reads DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH and
// the current Docker context (DOCKER_CONTEXT or the config's
// currentContext, with the context's TLS material); PodmanEndpoint reads
// CONTAINER_HOST, then the rootful (/run/podman/podman.sock) and rootless
// ($XDG_RUNTIME_DIR/podman/podman.sock) sockets.
//
// Open exports the image once (GET /images/get, a `docker save` stream)
// into a temporary file, never into memory, and serves it through the
// docker-archive reader of package source/archive; the file is removed on
// Close. A progress callback reports bytes received.
package daemon
