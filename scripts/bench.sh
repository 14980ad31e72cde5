#!/usr/bin/env bash
# Measures strata against the floor on a large generated image.
#
#   ./scripts/bench.sh [MiB] [layers]       (default 400 MiB in 8 layers)
#
# With debootstrap available (Debian package; needs root and the Debian
# mirror), it also builds a Debian bookworm minbase tree once (.bench/rootfs)
# and measures `strata scan` on an image whose first layer is that real
# distribution followed by the generated layers, then checks that scanning
# the bare minbase image reports no secret at all (no false alarms).
#
# The floor is what any reader must do: gunzip every layer (Go's standard
# library) and sha256 both streams, in a plain loop (benchimage floor).
# strata then does the real work: `ls --all-layers` (verified walk of every
# layer + overlay states) and, when the scan command exists, `scan` cold and
# with a warm cache. Peak RSS comes from /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
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

measure() { # name, command...
  local name="$1"; shift
  /usr/bin/time -o .bench/time.out -f "%e %M" "$@" > /dev/null 2> .bench/stderr.out || {
    echo "$name failed:" >&2; cat .bench/stderr.out >&2; return 1; }
  echo "$name $(tail -1 .bench/time.out)"
}

floor_line=$(.bench/benchimage floor "$img")
echo "$floor_line"
floor=$(sed -n 's/.*floor_seconds=\([0-9.]*\).*/\1/p' <<<"$floor_line")

report() { # name seconds rss_kb
  awk -v n="$1" -v s="$2" -v r="$3" -v f="$floor" 'BEGIN { printf "%-28s %7.2f s  %5.2fx floor  peak RSS %4d MB\n", n, s, s/f, r/1024 }'
}
read -r _ s rss < <(measure ls .bench/strata ls --all-layers --format json "oci:$img:latest")
report "strata ls --all-layers" "$s" "$rss"

scan_bench() { # layout
  local img="$1" cache s rss cold
  cache=$(mktemp -d)
  read -r _ s rss < <(measure scan .bench/strata scan --fail-on none --cache-dir "$cache" --format json "oci:$img:latest")
  report "strata scan (cold cache)" "$s" "$rss"
  cold="$s"
  read -r _ s rss < <(measure scan-warm .bench/strata scan --fail-on none --cache-dir "$cache" --format json "oci:$img:latest")
  report "strata scan (warm cache)" "$s" "$rss"
  awk -v w="$s" -v c="$cold" 'BEGIN { printf "warm/cold                    %6.1f%%\n", 100*w/c }'
  rm -rf "$cache"
}
scan_bench "$img"

# scrub: remove one file (the last one layer 3 shows) from layer 3, planning only (listing, rewrite,
# read-back checks; no rescan, nothing written). The floor here is reading
# just that layer (benchimage floor DIR 3). Without the scan cache every
# layer is listed by one walk; with the cache a scan filled, only layer 3 is
# read. CPU time (user+system) is the fairer figure on a shared machine.
scrub_bench() { # layout
  local img="$1" cache line fl flc mode s rss u sy victim
  victim=$(.bench/strata ls --layer 3 "oci:$img:latest" | awk '$4 == "file" && $5 == "present" { p = $NF } END { print p }')
  line=$(.bench/benchimage floor "$img" 3)
  echo "layer 3 only: $line"
  fl=$(sed -n 's/.*floor_seconds=\([0-9.]*\).*/\1/p' <<<"$line")
  flc=$(sed -n 's/.*floor_cpu_seconds=\([0-9.]*\).*/\1/p' <<<"$line")
  cache=$(mktemp -d)
  .bench/strata scan --fail-on none --cache-dir "$cache" --format json "oci:$img:latest" > /dev/null
  for mode in "no cache" "scan cache"; do
    local flags=(--no-cache)
    [ "$mode" = "scan cache" ] && flags=(--cache-dir "$cache")
    /usr/bin/time -o .bench/time.out -f "%e %M %U %S" .bench/strata scrub "${flags[@]}" --no-rescan --dry-run \
      --path "$victim" "oci:$img:latest" > /dev/null 2> .bench/stderr.out || {
      echo "scrub failed:" >&2; cat .bench/stderr.out >&2; return 1; }
    read -r s rss u sy < <(tail -1 .bench/time.out)
    awk -v n="strata scrub ($mode)" -v s="$s" -v c="$(awk -v u="$u" -v y="$sy" 'BEGIN{print u+y}')" -v r="$rss" -v f="$fl" -v fc="$flc" \
      'BEGIN { printf "%-28s %7.2f s  %5.2fx layer 3  CPU %6.2f s  %5.2fx layer 3 CPU  peak RSS %4d MB\n", n, s, s/f, c, c/fc, r/1024 }'
  done
  rm -rf "$cache"
}
scrub_bench "$img"

rootfs=.bench/rootfs
if [ ! -d "$rootfs/usr" ] && command -v debootstrap >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "debootstrap bookworm minbase into $rootfs ..." >&2
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
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
  floor_line=$(.bench/benchimage floor "$distro")
  echo "$floor_line"
  floor=$(sed -n 's/.*floor_seconds=\([0-9.]*\).*/\1/p' <<<"$floor_line")
  read -r _ s rss < <(measure ls .bench/strata ls --all-layers --format json "oci:$distro:latest")
  report "strata ls --all-layers" "$s" "$rss"
  scan_bench "$distro"
fi

# Precision distribution: bookworm minbase + python3, pip, nodejs, a JRE, git,
# curl and ruby, built once by the secret package's TestPrecisionDistro
# (debootstrap, cached under the user cache dir). No secrets in it: both the
# engine over the tree and `strata scan` over an image of it must report 0.
if command -v debootstrap >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "--- bookworm + python3, pip, nodejs, JRE, git, curl, ruby"
  STRATA_PRECISION=1 go test -count=1 -run 'TestPrecisionDistro$' -v ./secret/ | grep -E 'findings;|false positive|^(FAIL|ok)' || true
  prec="${XDG_CACHE_HOME:-$HOME/.cache}/strata-precision/bookworm-runtimes"
  if [ -d "$prec/usr" ]; then
    pimg=.bench/image-precision
    [ -f "$pimg/index.json" ] || .bench/benchimage gen -o "$pimg" -layers 1 -rootfs "$prec" >&2
    cat "$pimg"/blobs/sha256/* > /dev/null
    floor_line=$(.bench/benchimage floor "$pimg")
    echo "$floor_line"
    floor=$(sed -n 's/.*floor_seconds=\([0-9.]*\).*/\1/p' <<<"$floor_line")
    read -r _ s rss < <(measure scan .bench/strata scan --no-cache --fail-on none --format json "oci:$pimg:latest")
    report "strata scan (no cache)" "$s" "$rss"
    n=$(.bench/strata scan --no-cache --fail-on none --format json "oci:$pimg:latest" | grep -c '"fingerprint"' || true)
    echo "debian bookworm + runtimes: $n findings (want 0)"
  fi
fi
