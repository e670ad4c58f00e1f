#!/bin/sh
# run-png.sh: times writing an 8192x8192 PNG (8- and 16-bit, photo-like content) with sd_png_write
# over thread counts, beside libpng's single-threaded writer; prints a Markdown table.
# Usage: bench/png/run-png.sh [BUILD_DIR] [bench_png options: --size N, --threads 1,4,16, --dir DIR,
#        --no-reference]
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build
case "${1:-}" in -*|"") ;; *) build=$1; shift ;; esac
# a carried build (bench/README.md) has no build.ninja: its binary runs as it is
if [ -f "$build/build.ninja" ]; then
  ninja -C "$build" bench/png/bench_png >/dev/null
fi
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
# as the scaledit command runs (it restarts itself with passive OpenMP threads)
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$build/bench/png/bench_png" "$@"
