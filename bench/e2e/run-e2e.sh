#!/bin/sh
# run-e2e.sh: the end-to-end GPU benchmarks (issue 7, items 2-4) on the GPU machine: writes a
# FLUX.1-dev-size model with random bf16 weights (make_model.py), times one 4096² detail-pass step
# of our engine (bench_flux_step, Scale-DiT plan; and dense with DENSE=1) against a dense PyTorch
# step of the same weights (torch_step.py, diffusers), then whole 4096² and 2048² generations with
# `scaledit generate --verbose` (time per phase, peak GPU and host memory). Prints the tables and
# writes them to $OUT/e2e_table.md when OUT is set. SMALL=1: 2 + 2 blocks, 1024² step, 1024² and
# 512² images with 4 + 2 steps (a quick try of the command). STEP=0: the whole generations only
# (SIZES="8192" for the 8K picture).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-cuda}
MODEL=${MODEL:-/tmp/scaledit-bench-model}
PYTHON=${PYTHON:-python3}
SMALL=${SMALL:-0}
DENSE=${DENSE:-0}
STEP=${STEP:-1}
TABLE=${OUT:-/tmp}/e2e_table.md

if [ ! -x "$BUILD/bench/e2e/bench_flux_step" ]; then
  meson setup "$BUILD" "$ROOT" -Dgimp=disabled -Dcuda=enabled
  ninja -C "$BUILD" cuda/libscaledit-cuda.so bench/e2e/bench_flux_step cli/scaledit
fi
export SCALEDIT_CUDA_MODULE="${SCALEDIT_CUDA_MODULE:-$BUILD/cuda/libscaledit-cuda.so}"

if [ "$SMALL" = 1 ]; then
  STEP_SIZE=1024; SIZES=${SIZES:-"1024 512"}; STEPS="--steps 4 --detail-steps 2"; MAKE_ARGS=--small; ITERS=2
else
  STEP_SIZE=4096; SIZES=${SIZES:-"4096 2048"}; STEPS=""; MAKE_ARGS=""; ITERS=3
fi
if [ ! -f "$MODEL/transformer/config.json" ]; then
  "$PYTHON" "$HERE/make_model.py" "$MODEL" $MAKE_ARGS
fi

{
  echo "# $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%Y-%m-%d)"
  if [ "$STEP" = 1 ]; then
    echo
    echo "## One detail-pass step"
    echo
    dense=""
    [ "$DENSE" = 1 ] && dense=--dense
    "$BUILD/bench/e2e/bench_flux_step" "$MODEL/transformer" --size $STEP_SIZE --iters $ITERS $dense
    "$PYTHON" "$HERE/torch_step.py" "$MODEL/transformer" --size $STEP_SIZE --iters $ITERS | grep '^|'
  fi
  for s in $SIZES; do
    echo
    echo "## Whole ${s}x${s} generation (scaledit generate --verbose, default schedule unless SMALL)"
    echo
    log=/tmp/scaledit-e2e-$s.log
    "$BUILD/cli/scaledit" generate --model "$MODEL" --device cuda --prompt "a snowy mountain lake at sunset" \
      --width $s --height $s --seed 7 $STEPS --out /tmp/scaledit-e2e-$s.png --verbose >"$log" 2>&1 \
      || { cat "$log"; exit 1; }
    echo "| phase | seconds |"
    echo "|---|---|"
    sed -n 's/^scaledit: phase \([a-z][a-z ]*[a-z]\) *\([0-9.]*\) s$/| \1 | \2 |/p' "$log"
    sed -n 's/^scaledit: \(.*loaded in.*\)$/| model load (\1) | |/p; s/^\/tmp.*, \([0-9.]*\) s$/| **total (generate)** | \1 |/p' "$log"
    sed -n 's/^scaledit: \(peak .*\)$/| \1 | |/p' "$log"
  done
} | tee "$TABLE"
