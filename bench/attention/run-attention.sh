#!/bin/sh
# run-attention.sh: the attention benchmark at the FLUX 4K shape on a GPU machine: builds (unless
# BUILD names a finished build), writes random q/k/v, times our kernel (Scale-DiT plan in Hilbert
# order, and dense), then PyTorch SDPA (cuDNN, flash) and FlexAttention on the same data, checks
# parity and prints the table (also written to $OUT/attention_table.md when OUT is set).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-cuda}
DATA=${DATA:-/tmp/scaledit-bench-attention}
PYTHON=${PYTHON:-python3}

if [ ! -x "$BUILD/bench/attention/bench_attention" ]; then
  meson setup "$BUILD" "$ROOT" -Dgimp=disabled -Dcuda=enabled
  ninja -C "$BUILD" cuda/libscaledit-cuda.so bench/attention/bench_attention
fi
export SCALEDIT_CUDA_MODULE="${SCALEDIT_CUDA_MODULE:-$BUILD/cuda/libscaledit-cuda.so}"

"$PYTHON" "$HERE/bench_attention.py" gen "$DATA"
"$BUILD/bench/attention/bench_attention" "$DATA"
"$PYTHON" "$HERE/bench_attention.py" compare "$DATA"
rm -rf "$DATA"
