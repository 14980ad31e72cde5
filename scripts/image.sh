#!/usr/bin/env bash
# Builds strata's own container image, ko-style, into an OCI image layout:
# a static binary (CGO_ENABLED=0), /etc/passwd with a nonroot user, the
# system CA bundle, no shell; the config runs strata as nonroot. No Docker
# daemon is involved (internal/cmd/mkimage writes the layout with
# go-containerregistry).
#
#   ./scripts/image.sh                 # -> dist/image (oci:dist/image:latest)
#   ./scripts/image.sh OUT_DIR [TAG]
#   GOARCH=arm64 ./scripts/image.sh    # another architecture
#
# Then: strata inspect oci:dist/image:latest; strata scan oci:dist/image:latest
# Push with: skopeo copy oci:dist/image:latest docker://REGISTRY/strata:TAG
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-dist/image}"
tag="${2:-latest}"
arch="${GOARCH:-$(go env GOARCH)}"
bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
[ -r "$bundle" ] || { echo "image.sh: no CA bundle at $bundle (apt-get install ca-certificates, or set CA_BUNDLE)" >&2; exit 2; }

version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
date="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pkg=github.com/stratascan/strata/internal/cli
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath \
  -ldflags "-s -w -X $pkg.version=$version -X $pkg.commit=$commit -X $pkg.date=$date" \
  -o "$tmp/strata" ./cmd/strata
go run ./internal/cmd/mkimage -binary "$tmp/strata" -out "$out" -tag "$tag" \
  -ca-bundle "$bundle" -platform "linux/$arch" -version "$version" -revision "$commit"
