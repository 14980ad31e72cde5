#!/usr/bin/env bash
# Measures strata against the floor on a large generated image.
#
#   ./scripts/bench.sh [MiB] [layers]       (default 400 MiB in 8 layers)
#   ./scripts/bench.sh fleet                 (strata serve/worker at fleet scale)
#
# The fleet mode runs BenchmarkFleetScale (internal/fleete2e): 1,000 images
# in 200 repositories on 20 bases in an embedded registry, swept by 1, 2 and
# 4 strata worker processes on SQLite and on Postgres; it prints images per
# second, layers scanned against distinct layers, and peak RSS per worker.
#
# With mmdebstrap or debootstrap available (Debian packages; need root and the
# Debian mirror), it also builds a Debian bookworm minbase tree once (.bench/rootfs)
# and measures `strata scan` on an image whose first layer is that real
# distribution followed by the generated layers, then checks that scanning
# the bare minbase image reports no secret at all (no false alarms).
#
# The floor is what any reader must do: gunzip every layer (Go's standard
# library) and sha256 both streams, in a plain loop (benchimage floor).
# strata then does the real work: `ls --all-layers` (verified walk of every
# layer + overlay states) and, when the scan command exists, `scan` cold and
# with a warm cache. Peak RSS comes from /usr/bin/time.
#
# Every line gives wall-clock seconds and CPU seconds (user + system), each
# against the floor's. Wall clock is the figure that matters on an idle
# machine; on a shared one (check the load average printed first) only the
# CPU figures and peak RSS are meaningful. One more image, a layer of .deb,
# .tar.xz and .whl files (BENCH_ARCHIVES_MB, default 160 MiB inside the
# archives; 0 skips it), measures what the archive decoders cost in CPU and
# memory.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = fleet ]; then
  exec go test -run '^$' -bench FleetScale -benchtime 1x -timeout 90m ./internal/fleete2e
fi
mb="${1:-400}"
layers="${2:-8}"
img=".bench/image-${mb}m-${layers}l"
mkdir -p .bench
go build -o .bench/strata ./cmd/strata
go build -o .bench/benchimage ./internal/cmd/benchimage
if [ ! -f "$img/index.json" ]; then
  echo "generating $img ..." >&2
  .bench/benchimage gen -o "$img" -mb "$mb" -layers "$layers" >&2
fi
# Warm the page cache so every run reads from memory.
cat "$img"/blobs/sha256/* > /dev/null

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"

measure() { # name, command...: prints name, wall s, CPU s, peak RSS KB
  local name="$1" e u s m; shift
  /usr/bin/time -o .bench/time.out -f "%e %U %S %M" "$@" > /dev/null 2> .bench/stderr.out || {
    echo "$name failed:" >&2; cat .bench/stderr.out >&2; return 1; }
  read -r e u s m < <(tail -1 .bench/time.out)
  echo "$name $e $(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }') $m"
}

floor_of() { # layout [layer index...]: prints the floor line, sets floor and floor_cpu
  floor_line=$(.bench/benchimage floor "$@")
  echo "$floor_line"
  floor=$(sed -n 's/.*floor_seconds=\([0-9.]*\).*/\1/p' <<<"$floor_line")
  floor_cpu=$(sed -n 's/.*floor_cpu_seconds=\([0-9.]*\).*/\1/p' <<<"$floor_line")
}
floor_of "$img"

report() { # name wall_seconds cpu_seconds rss_kb
  awk -v n="$1" -v s="$2" -v c="$3" -v r="$4" -v f="$floor" -v fc="$floor_cpu" 'BEGIN {
    printf "%-28s %7.2f s  %5.2fx floor   CPU %7.2f s  %5.2fx floor CPU   peak RSS %4d MB\n", n, s, s/f, c, c/fc, r/1024 }'
}
read -r _ s c rss < <(measure ls .bench/strata ls --all-layers --format json "oci:$img:latest")
report "strata ls --all-layers" "$s" "$c" "$rss"

scan_bench() { # layout
  local img="$1" cache s c rss cold cold_cpu
  cache=$(mktemp -d)
  read -r _ s c rss < <(measure scan .bench/strata scan --fail-on none --cache-dir "$cache" --format json "oci:$img:latest")
  report "strata scan (cold cache)" "$s" "$c" "$rss"
  cold="$s" cold_cpu="$c"
  read -r _ s c rss < <(measure scan-warm .bench/strata scan --fail-on none --cache-dir "$cache" --format json "oci:$img:latest")
  report "strata scan (warm cache)" "$s" "$c" "$rss"
  awk -v w="$s" -v c="$cold" -v wc="$c" -v cc="$cold_cpu" 'BEGIN { printf "warm/cold                    %6.1f%% wall, %.1f%% CPU\n", 100*w/c, 100*wc/cc }'
  rm -rf "$cache"
}
scan_bench "$img"

# scrub: remove one file (the last one layer 3 shows) from layer 3, planning only (listing, rewrite,
# read-back checks; no rescan, nothing written). The floor here is reading
# just that layer (benchimage floor DIR 3). Without the scan cache every
# layer is listed by one walk; with the cache a scan filled, only layer 3 is
# read. CPU time (user+system) is the fairer figure on a shared machine.
scrub_bench() { # layout
  local img="$1" cache victim s c rss floor floor_line floor_cpu # report() sees these floors
  victim=$(.bench/strata ls --layer 3 "oci:$img:latest" | awk '$4 == "file" && $5 == "present" { p = $NF } END { print p }')
  echo -n "layer 3 only: "
  floor_of "$img" 3
  cache=$(mktemp -d)
  .bench/strata scan --fail-on none --cache-dir "$cache" --format json "oci:$img:latest" > /dev/null
  read -r _ s c rss < <(measure scrub .bench/strata scrub --no-cache --no-rescan --dry-run --path "$victim" "oci:$img:latest")
  report "strata scrub (no cache)" "$s" "$c" "$rss"
  read -r _ s c rss < <(measure scrub .bench/strata scrub --cache-dir "$cache" --no-rescan --dry-run --path "$victim" "oci:$img:latest")
  report "strata scrub (scan cache)" "$s" "$c" "$rss"
  rm -rf "$cache"
}
scrub_bench "$img"

amb="${BENCH_ARCHIVES_MB:-160}"
if [ "$amb" -gt 0 ]; then
  arch=".bench/image-archives-${amb}m"
  if [ ! -f "$arch/index.json" ]; then
    echo "generating $arch ..." >&2
    .bench/benchimage gen -o "$arch" -layers 0 -archives "$amb" >&2
  fi
  cat "$arch"/blobs/sha256/* > /dev/null
  echo "--- one layer of .deb, .tar.xz and .whl files (${amb} MiB inside the archives)"
  floor_of "$arch"
  read -r _ s c rss < <(measure scan .bench/strata scan --no-cache --fail-on none --format json "oci:$arch:latest")
  report "strata scan (no cache)" "$s" "$c" "$rss"
fi

rootfs=.bench/rootfs
if [ ! -d "$rootfs/usr" ] && [ "$(id -u)" -eq 0 ]; then
  if command -v mmdebstrap >/dev/null 2>&1; then
    echo "mmdebstrap bookworm minbase into $rootfs ..." >&2
    # keeps the .deb files in the apt cache, as debootstrap does
    mmdebstrap --variant=minbase --quiet --skip=cleanup/apt/cache bookworm "$rootfs" http://deb.debian.org/debian
  elif command -v debootstrap >/dev/null 2>&1; then
    echo "debootstrap bookworm minbase into $rootfs ..." >&2
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  fi
fi
if [ -d "$rootfs/usr" ]; then
  base=.bench/image-minbase
  [ -f "$base/index.json" ] || .bench/benchimage gen -o "$base" -layers 1 -rootfs "$rootfs" >&2
  n=$(.bench/strata scan --no-cache --fail-on none --format json "oci:$base:latest" | grep -c '"fingerprint"' || true)
  echo "debian bookworm minbase: $n findings (want 0)"
  distro=".bench/image-distro-${mb}m"
  [ -f "$distro/index.json" ] || .bench/benchimage gen -o "$distro" -mb "$mb" -layers "$layers" -rootfs "$rootfs" >&2
  cat "$distro"/blobs/sha256/* > /dev/null
  echo "--- minbase + generated layers"
  floor_of "$distro"
  read -r _ s c rss < <(measure ls .bench/strata ls --all-layers --format json "oci:$distro:latest")
  report "strata ls --all-layers" "$s" "$c" "$rss"
  scan_bench "$distro"
fi

# Precision distribution: bookworm minbase + python3, pip, nodejs, a JRE, git,
# curl and ruby, built once by the secret package's TestPrecisionDistro
# (mmdebstrap or debootstrap, as root, cached under the user cache dir). No
# secrets in it: both the engine over the tree and `strata scan` over an image
# of it must report 0. Its apt cache keeps the .deb files, which strata opens.
prec="${XDG_CACHE_HOME:-$HOME/.cache}/strata-precision/bookworm-runtimes"
can_build=false
if [ "$(id -u)" -eq 0 ] && { command -v mmdebstrap || command -v debootstrap; } >/dev/null 2>&1; then
  can_build=true
fi
if [ -d "$prec/usr" ] || $can_build; then
  echo "--- bookworm + python3, pip, nodejs, JRE, git, curl, ruby"
  STRATA_PRECISION=1 go test -count=1 -timeout 60m -run 'TestPrecisionDistro$' -v ./secret/ | grep -E 'built the precision|findings;|false positive|^(FAIL|ok)' || true
  if [ -d "$prec/usr" ]; then
    pimg=.bench/image-precision
    [ -f "$pimg/index.json" ] || .bench/benchimage gen -o "$pimg" -layers 1 -rootfs "$prec" >&2
    cat "$pimg"/blobs/sha256/* > /dev/null
    floor_of "$pimg"
    read -r _ s c rss < <(measure scan .bench/strata scan --no-cache --fail-on none --format json "oci:$pimg:latest")
    report "strata scan (no cache)" "$s" "$c" "$rss"
    n=$(.bench/strata scan --no-cache --fail-on none --format json "oci:$pimg:latest" | grep -c '"fingerprint"' || true)
    echo "debian bookworm + runtimes: $n findings (want 0)"
  fi
fi
