#!/bin/sh
# run-cpu.sh: tiled decode of a 128x128x16 latent (a 1024x1024 image) with a FLUX-size VAE config
# (random weights) on the CPU within a 2 GiB device working-memory budget; prints time and peaks.
# Usage: bench/vae/run-cpu.sh [BUILD_DIR] [extra bench_vae options, e.g. --encode]
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
[ $# -gt 0 ] && shift
model=${SCALEDIT_BENCH_VAE:-${TMPDIR:-/tmp}/scaledit-bench-vae}

if [ ! -f "$model/vae/diffusion_pytorch_model.safetensors" ]; then
  echo "writing a random FLUX-size AutoencoderKL to $model (diffusers, bf16)"
  python3 - "$model" <<'PY'
import sys, torch
from diffusers import AutoencoderKL
torch.manual_seed(0)
vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16,
                    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                    block_out_channels=[128, 256, 512, 512], layers_per_block=2, norm_num_groups=32,
                    scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False,
                    use_post_quant_conv=False, mid_block_add_attention=True)
vae.to(torch.bfloat16).save_pretrained(sys.argv[1] + "/vae", safe_serialization=True)
PY
fi
ninja -C "$build" bench/vae/bench_vae >/dev/null
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
/usr/bin/time -f "max resident set size: %M KiB, wall %e s, user %U s, system %S s" \
  "$build/bench/vae/bench_vae" --model "$model" --width 128 --height 128 --budget-mib 2048 "$@"
