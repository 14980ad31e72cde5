#!/usr/bin/env bash
# Measures strata against the floor on a large generated image.
#
#   ./scripts/bench.sh [MiB] [layers]       (default 400 MiB in 8 layers)
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
if .bench/strata scan --help >/dev/null 2>&1; then
  cache=$(mktemp -d)
  read -r _ s rss < <(measure scan .bench/strata scan --cache-dir "$cache" --format json "oci:$img:latest")
  report "strata scan (cold cache)" "$s" "$rss"
  cold="$s"
  read -r _ s rss < <(measure scan-warm .bench/strata scan --cache-dir "$cache" --format json "oci:$img:latest")
  report "strata scan (warm cache)" "$s" "$rss"
  awk -v w="$s" -v c="$cold" 'BEGIN { printf "warm/cold                    %5.1f%%\n", 100*w/c }'
  rm -rf "$cache"
fi
