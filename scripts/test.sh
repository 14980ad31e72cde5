#!/usr/bin/env bash
# Runs strata's whole test suite. Installs what the tests need first when it
# is missing: Debian packages via apt-get (the real registry binary, skopeo,
# umoci, and podman, containerd and docker.io, whose daemons the engine tests
# start), then Go modules via `go test` itself.
#
#   ./scripts/test.sh            # vet + every test, with the race detector
#   ./scripts/test.sh -short     # extra args go to `go test`
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v umoci >/dev/null 2>&1 || need+=(umoci)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
# archive fixtures in secret/ are built with the real tools
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
command -v 7zz >/dev/null 2>&1 || need+=(7zip)
command -v zip >/dev/null 2>&1 || need+=(zip)
command -v rpmbuild >/dev/null 2>&1 || need+=(rpm)
# scripts/image.sh (tested in internal/cmd/mkimage) ships the system CA bundle.
[ -r /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${need[*]} (apt-get)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian package may start a registry on :5000 where systemd runs; the
# tests start their own on free loopback ports and do not need it.

go vet ./...
go test -race -count=1 -timeout 40m "$@" ./...
