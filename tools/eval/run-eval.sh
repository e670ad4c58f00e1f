#!/bin/bash
# run-eval.sh: runs tools/eval/evaluate_model.py on the GPU machine with the build carried in
# .carry/ (made on Debian 12 as bench/README.md shows, plus the CLI: .carry/build/cli/scaledit).
#
# Usage (on the GPU machine, in the repository root, with .carry carried):
#   tools/eval/run-eval.sh [evaluate_model.py arguments]
# e.g. the 1024² part, then the 4096² part in a second call:
#   tools/eval/run-eval.sh --parts judge-small,sheet --time-limit 480
#   tools/eval/run-eval.sh --parts judge-large,coherence,tiling,seams --time-limit 420
# Environment: MODEL (default models/scaledit-tiny), CARRY (default .carry), OUT (results).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."

carry=${CARRY:-.carry}
cli=$carry/build/cli/scaledit
module=$carry/build/cuda/libscaledit-cuda.so
for f in "$cli" "$module" "$carry/lib/libs.tar.xz"; do
  if [ ! -e "$f" ]; then
    echo "run-eval: $f is missing: build here and copy it into $carry as bench/README.md shows" >&2
    exit 1
  fi
done
libs=$(mktemp -d /tmp/scaledit-libs.XXXXXX)
tar -xJf "$carry/lib/libs.tar.xz" -C "$libs"
export LD_LIBRARY_PATH=$libs:$libs/openblas-pthread:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export SCALEDIT_CUDA_MODULE=$(readlink -f "$module")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} PYTHONUNBUFFERED=1
if command -v nvidia-smi >/dev/null; then nvidia-smi -L; fi
exec python3 tools/eval/evaluate_model.py --cli "$cli" --model "${MODEL:-models/scaledit-tiny}" --device cuda \
  --out "${OUT:-eval-out}" "$@"
