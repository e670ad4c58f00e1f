#!/bin/sh
# run-all.sh: issue 7's four GPU tables from one run on the GPU machine, on one build: the cuda
# suite first (the checks; a failure stops the run), then compute-sanitizer's memcheck and
# racecheck over the same three tests (SANITIZE=0 skips them; a report stops the run;
# CHECKS_ONLY=1 stops after them), then the attention benchmark (table 1) and the end-to-end
# benchmarks (tables 2-4). Prints everything and writes the tables together to
# $OUT/bench_tables.md (OUT defaults to /tmp). BUILD: a finished build (default build-cuda, made
# here when missing); the other variables go through to the two benchmark scripts.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-$ROOT/build-cuda}
OUT=${OUT:-/tmp}
export BUILD OUT
export SCALEDIT_CUDA_MODULE="${SCALEDIT_CUDA_MODULE:-$BUILD/cuda/libscaledit-cuda.so}"
export SCALEDIT_TEST_DATA="${SCALEDIT_TEST_DATA:-$ROOT/tests/data}"

if [ ! -x "$BUILD/cli/scaledit" ]; then
  meson setup "$BUILD" "$ROOT" -Dgimp=disabled -Dcuda=enabled
  ninja -C "$BUILD"
fi
echo "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); $(date -u '+%Y-%m-%d %H:%M UTC')"
for t in ops attention models; do
  if ! "$BUILD/tests/cuda/test_cuda_$t" --tap > "$OUT/cuda_$t.log" 2>&1; then
    grep '^not ok\|^Bail' "$OUT/cuda_$t.log" || tail -5 "$OUT/cuda_$t.log"
    echo "run-all: test_cuda_$t failed; no timings taken" >&2
    exit 1
  fi
  echo "test_cuda_$t: $(grep -c '^ok' "$OUT/cuda_$t.log") passed"
done
if [ "${SANITIZE:-1}" != 0 ]; then
  SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  if [ ! -x "$SAN" ]; then
    echo "run-all: no compute-sanitizer (PATH, /usr/local/cuda/bin); memcheck and racecheck skipped"
  else
    for tool in memcheck racecheck; do
      for t in ops attention models; do
        log="$OUT/sanitize_${tool}_$t.log"
        # --report-api-errors no: test_cuda_ops's out-of-memory case fails cudaMallocAsync on purpose
        rc=0
        "$SAN" --tool "$tool" --report-api-errors no --error-exitcode 99 "$BUILD/tests/cuda/test_cuda_$t" \
          > "$log" 2>&1 || rc=$?
        summary=$(grep -m 1 'ERROR SUMMARY\|RACECHECK SUMMARY' "$log" || echo 'no summary')
        if [ "$rc" = 99 ] && [ "$tool" = racecheck ] && ! grep -q '^not ok' "$log" \
           && grep -q 'access at nvjet_' "$log" \
           && ! grep -o 'access at [^ ]*' "$log" | grep -qv 'access at nvjet_'; then
          # racecheck watches shared memory only: a hazard inside cuBLAS's closed GEMM kernels
          # (nvjet_*) comes from cuBLAS, not from our arguments; ours must have none
          echo "compute-sanitizer --tool $tool test_cuda_$t: $summary, all inside cuBLAS's nvjet_* GEMM" \
            "kernels ($(grep -o 'access at nvjet_[^+]*' "$log" | sort -u | wc -l) of them); none in ours"
        elif [ "$rc" != 0 ]; then
          grep -m 20 '=========\|^not ok' "$log" || tail -20 "$log"
          echo "run-all: compute-sanitizer --tool $tool test_cuda_$t reported errors (see $log)" >&2
          exit 1
        else
          echo "compute-sanitizer --tool $tool test_cuda_$t: $summary"
        fi
      done
    done
  fi
fi
if [ "${CHECKS_ONLY:-0}" != 0 ]; then
  echo "run-all: CHECKS_ONLY set: the suite and the sanitizers ran; no timings taken"
  exit 0
fi
sh "$HERE/attention/run-attention.sh"
sh "$HERE/e2e/run-e2e.sh"
cat "$OUT/attention_table.md" "$OUT/e2e_table.md" > "$OUT/bench_tables.md"
echo "run-all: the four tables are in $OUT/bench_tables.md"
