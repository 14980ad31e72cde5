#!/usr/bin/env bash
# Runs strata's whole test suite. Installs what the tests need first when it
# is missing: Debian packages via apt-get (the real registry binary, skopeo,
# umoci, podman, containerd and docker.io, whose daemons the engine tests
# start, the archivers secret/ builds fixtures with, and a C compiler for the
# race detector), then Go modules via `go test` itself. Then runs every fuzz
# target for a short time.
#
#   ./scripts/test.sh            # vet + every test with the race detector + fuzz
#   ./scripts/test.sh -short     # extra args go to `go test`
#   STRATA_FUZZTIME=30s ./scripts/test.sh   # fuzz longer per target (0: skip fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v umoci >/dev/null 2>&1 || need+=(umoci)
# -race needs cgo, hence a C compiler.
cc="$(go env CC)"
command -v "${cc:-gcc}" >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
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
# the fleet tests start a throw-away Postgres (initdb lives under /usr/lib/postgresql/N/bin)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
# the HTML report test opens the page in headless Chromium
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# the HTML report test validates the page with the Nu HTML Checker (a jar
# fetched with npm below)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || need+=(npm)
# scripts/image.sh (tested in internal/cmd/mkimage) ships the system CA bundle.
[ -r /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if ((${#need[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "test.sh: missing ${need[*]}; run as root or install sudo, or install them yourself:" >&2
      echo "  apt-get install -y --no-install-recommends ${need[*]}" >&2
      exit 1
    fi
  fi
  echo "installing ${need[*]} (apt-get)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$(go env CGO_ENABLED)" != "1" ] || ! command -v "$(go env CC)" >/dev/null 2>&1; then
  echo "test.sh: the race detector needs cgo and a C compiler (CC=$(go env CC), CGO_ENABLED=$(go env CGO_ENABLED)): install gcc or set CC" >&2
  exit 1
fi
# The Nu HTML Checker (npm package vnu-jar), fetched once into a cache
# outside the repository; the HTML tests find it through STRATA_VNU_JAR.
vnu_dir="${XDG_CACHE_HOME:-$HOME/.cache}/strata-test/vnu"
export STRATA_VNU_JAR="$vnu_dir/node_modules/vnu-jar/build/dist/vnu.jar"
if [ ! -f "$STRATA_VNU_JAR" ]; then
  echo "fetching vnu-jar (npm) into $vnu_dir" >&2
  mkdir -p "$vnu_dir"
  npm install --prefix "$vnu_dir" --no-save --no-audit --no-fund --ignore-scripts vnu-jar >/dev/null
fi
# The Debian package may start a registry on :5000 where systemd runs; the
# tests start their own on free loopback ports and do not need it.

go vet ./...

# Every fuzz target for a short time, without the race detector, one after
# the other, printing executions per second; a target that stalls (no
# execution) fails the run. See README "Development" for longer runs.
fuzztime="${STRATA_FUZZTIME:-10s}"
# fuzz_once PKG TARGET TIME LOG: 0 ran, 1 found a failure, 2 Go's fuzzer
# reported its own -fuzztime deadline ("context deadline exceeded", which it
# does when time runs out while a worker is still on a slow input, or before
# the seed corpus's baseline finished) and wrote no failing input.
fuzz_once() {
  local corpus="$1/testdata/fuzz/$2" before
  before="$(ls "$corpus" 2>/dev/null | wc -l)"
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$3" "$1" >"$4" 2>&1 && return 0
  if grep -q 'context deadline exceeded' "$4" && [ "$(ls "$corpus" 2>/dev/null | wc -l)" = "$before" ]; then
    return 2
  fi
  return 1
}
if [ "$fuzztime" != "0" ]; then
  grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
    pkg="./$(dirname "${file#./}")"
    for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
      log="$(mktemp)"
      rc=0
      fuzz_once "$pkg" "$target" "$fuzztime" "$log" || rc=$?
      last="$(grep -o 'execs: [0-9]* ([0-9]*/sec)' "$log" | tail -1)"
      if [ "$rc" != 1 ] && { [ -z "$last" ] || [ "${last#execs: 0 }" != "$last" ]; }; then
        # A slow seed corpus (the baseline did not finish): once more, with
        # three times as long.
        rc=0
        retry="$fuzztime"
        case "$fuzztime" in *[0-9]s) retry="$(( ${fuzztime%s} * 3 ))s" ;; esac
        fuzz_once "$pkg" "$target" "$retry" "$log" || rc=$?
        last="$(grep -o 'execs: [0-9]* ([0-9]*/sec)' "$log" | tail -1)"
      fi
      if [ "$rc" = 1 ]; then
        cat "$log" >&2
        echo "fuzz: $pkg $target FAILED (the failing input is under $pkg/testdata/fuzz/$target)" >&2
        exit 1
      fi
      rm -f "$log"
      echo "fuzz: $pkg $target: ${last:-no executions}"
      case "$last" in "" | "execs: 0 "*)
        echo "fuzz: $pkg $target stalled: no executions in $fuzztime" >&2
        exit 1
        ;;
      esac
    done
  done
fi

# The tests last, so their summary closes the log.
go test -race -count=1 -timeout 40m "$@" ./...
