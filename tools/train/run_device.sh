#!/bin/bash
# run_device.sh: scaledit-tiny's stages on the GPU machine as one background job: render the
# training scenes (512^2 and 1024^2), train the VAE (from RESUME: refine its decoder only), the
# text encoders + transformer at 256^2, 512^2 and 1024^2 together, the Scale-DiT LoRA at 1024^2
# with 256^2 guidance, export.
# Start: setsid nohup tools/train/run_device.sh W >W/log 2>&1 &   (W: a work folder; poll W/log)
# Refine: RESUME=<exported model folder> starts every stage from its weights (the encoder, and so
# the latent space, stays as it is; VAE_MIN=0 keeps its VAE as it is).
set -euo pipefail
W=$1
: "${N512:=12000}" "${N1024:=5000}" "${VAE_MIN:=3}" "${BASE_MIN:=10}" "${LORA_MIN:=4}"
: "${RESUME:=}" "${EVAL:=32}"
export PYTHONUNBUFFERED=1
D512=/dev/shm/s512-$N512 D1024=/dev/shm/s1024-$N1024  # renders, reused by a rerun in the same machine
mkdir -p "$W/md"
cp -r models/scaledit-tiny/tokenizer models/scaledit-tiny/tokenizer_2 "$W/md/"
[ -f "$D512.npy" ] || python3 tools/train/data.py "$D512" --count "$N512" --size 512
[ -f "$D1024.npy" ] || python3 tools/train/data.py "$D1024" --first "$N512" --count "$N1024" --size 1024
BASE_RESUME=() LORA_RESUME=()
if [ -n "$RESUME" ]; then
  BASE_RESUME=(--resume "$RESUME")
  LORA_RESUME=(--resume "$RESUME/scale_dit_lora")
fi
if [ ! -d "$W/vae" ]; then  # not already done by an earlier run in this work folder
  if [ -n "$RESUME" ] && [ "$VAE_MIN" = 0 ]; then
    cp -r "$RESUME/vae" "$W/vae"
  elif [ -n "$RESUME" ]; then
    python3 tools/train/train_vae.py --images "$D1024" --resume "$RESUME/vae" --decoder-only --out "$W/vae" \
      --minutes "$VAE_MIN"
  else
    python3 tools/train/train_vae.py --images "$D512" --out "$W/vae" --minutes "$VAE_MIN"
  fi
fi
rm -rf "$W/md/vae"; cp -r "$W/vae" "$W/md/vae"
python3 tools/train/train_base.py --model-dir "$W/md" --images "$D512,$D1024" --sizes 256,512,1024 \
  --out "$W/base" --minutes "$BASE_MIN" --eval "$EVAL" "${BASE_RESUME[@]}"
python3 tools/train/export.py --tokenizers "$W/md" --vae "$W/vae" --base "$W/base" --out "$W/model"
tar -C "$W" -cf "$W/model-base.tar" model
python3 tools/train/train_lora.py --model-dir "$W/model" --images "$D1024" --out "$W/lora" \
  --minutes "$LORA_MIN" "${LORA_RESUME[@]}"
python3 tools/train/export.py --tokenizers "$W/md" --vae "$W/vae" --base "$W/base" --lora "$W/lora" \
  --out "$W/model"
tar -C "$W" -cf "$W/model.tar" model
echo STAGES DONE
