#!/bin/bash
# run_device.sh: scaledit-tiny's stages on the GPU machine as one background job: render the
# training scenes (512^2 and 1024^2 pictures; 1024^2 crops of scenes rendered at 2048^2 and
# 4096^2), train the VAE (from RESUME: refine its decoder only), the text encoders + transformer
# at 256^2, 512^2 and 1024^2 together, the Scale-DiT LoRA on the 1024^2 pictures and the crops
# (each with the sigmas of its size's detail pass) with 1/4-size guidance, export.
# Start: setsid nohup tools/train/run_device.sh W >W/log 2>&1 &   (W: a work folder; poll W/log)
# Refine: RESUME=<exported model folder> starts every stage from its weights (the encoder, and so
# the latent space, stays as it is unless VAE_FULL=1, which trains it too, with the handover views
# of train_vae.py; without it the decoder alone trains for VAE_MIN minutes beside the base and
# the LoRA, which need only the encoder; VAE_MIN=0 keeps its VAE as it is; LORA_ONLY=1 keeps its
# VAE, text encoders and transformer and trains the LoRA alone). RENDER_ONLY=1 stops after the
# renders (a later run reuses them). BASE_WEIGHTS: how often the base draws 256^2, 512^2 and 1024^2
# (default 1,1,1). The crops render in the background while the VAE and the base train (with
# RENDER_ONLY or LORA_ONLY, first).
set -euo pipefail
W=$1
: "${N512:=12000}" "${N1024:=5000}" "${N2048:=1000}" "${N4096:=500}" "${VAE_MIN:=3}" "${BASE_MIN:=10}"
: "${LORA_MIN:=4}" "${BASE_WEIGHTS:=1,1,1}" "${RESUME:=}" "${LORA_ONLY:=}" "${VAE_FULL:=}" "${RENDER_ONLY:=}" "${EVAL:=32}"
export PYTHONUNBUFFERED=1
# Renders, reused by a rerun in the same machine; seeds of the sets do not overlap.
D512=/dev/shm/s512-$N512 D1024=/dev/shm/s1024-$N1024
C2048=/dev/shm/c2048-$N2048 C4096=/dev/shm/c4096-$N4096
mkdir -p "$W/md"
cp -r models/scaledit-tiny/tokenizer models/scaledit-tiny/tokenizer_2 "$W/md/"
[ -n "$LORA_ONLY" ] || [ -f "$D512.npy" ] || python3 tools/train/data.py "$D512" --count "$N512" --size 512
[ -f "$D1024.npy" ] || python3 tools/train/data.py "$D1024" --first "$N512" --count "$N1024" --size 1024
LORA_IMAGES=$D1024
FIRST=$((N512 + N1024))
render_crops() {  # the LoRA's crops of scenes rendered at 2048^2 and 4096^2
  if [ "$N2048" -gt 0 ] && [ ! -f "$C2048.npy" ]; then
    python3 tools/train/data.py "$C2048" --first "$FIRST" --count "$N2048" --size 1024 --crops-of 2048 --crops 2
  fi
  if [ "$N4096" -gt 0 ] && [ ! -f "$C4096.npy" ]; then
    python3 tools/train/data.py "$C4096" --first $((FIRST + N2048)) --count "$N4096" --size 1024 \
      --crops-of 4096 --crops 6
  fi
}
await_job() {  # await_job PID LOG WHAT: waits for a background stage, shows its log, stops if it failed
  wait "$1" || { cat "$2"; echo "run_device: $3 failed" >&2; exit 1; }
  cat "$2"
}
[ "$N2048" -gt 0 ] && LORA_IMAGES=$C2048,$LORA_IMAGES
[ "$N4096" -gt 0 ] && LORA_IMAGES=$C4096,$LORA_IMAGES
if [ -n "$RENDER_ONLY" ] || [ -n "$LORA_ONLY" ]; then
  render_crops  # needed now
  CROPS_JOB=
else  # only the LoRA needs them: they render (at low priority) while the VAE and the base train
  (renice -n 10 "$BASHPID" > /dev/null; render_crops) > "$W/crops.log" 2>&1 &
  CROPS_JOB=$!
fi
[ -z "$RENDER_ONLY" ] || { echo RENDERS DONE; exit 0; }
BASE_RESUME=() LORA_RESUME=() DECODER_JOB=
if [ -n "$RESUME" ]; then
  BASE_RESUME=(--resume "$RESUME")
  LORA_RESUME=(--resume "$RESUME/scale_dit_lora")
fi
if [ -n "$LORA_ONLY" ]; then
  [ -n "$RESUME" ] || { echo "run_device: LORA_ONLY needs RESUME" >&2; exit 1; }
  rm -rf "$W/vae" "$W/base" "$W/model"
  cp -r "$RESUME/vae" "$W/vae"
  cp -r "$RESUME" "$W/base"  # its text_encoder/, text_encoder_2/ and transformer/
  cp -r "$RESUME" "$W/model"
elif [ ! -d "$W/vae" ]; then  # not already done by an earlier run in this work folder
  if [ -n "$RESUME" ] && [ "$VAE_MIN" = 0 ]; then
    cp -r "$RESUME/vae" "$W/vae"
  elif [ -n "$RESUME" ] && [ -n "$VAE_FULL" ]; then
    python3 tools/train/train_vae.py --images "$D512,$D1024" --resume "$RESUME/vae" --out "$W/vae" \
      --minutes "$VAE_MIN" --lr 1e-4
  elif [ -n "$RESUME" ]; then  # the encoder stays, so the base and the LoRA encode with it meanwhile
    cp -r "$RESUME/vae" "$W/vae"
    (python3 tools/train/train_vae.py --images "$D1024" --resume "$RESUME/vae" --decoder-only \
      --out "$W/vae-decoder" --minutes "$VAE_MIN") > "$W/decoder.log" 2>&1 &
    DECODER_JOB=$!
  else
    python3 tools/train/train_vae.py --images "$D512" --out "$W/vae" --minutes "$VAE_MIN"
  fi
fi
if [ -z "$LORA_ONLY" ]; then
  rm -rf "$W/md/vae"; cp -r "$W/vae" "$W/md/vae"
  python3 tools/train/train_base.py --model-dir "$W/md" --images "$D512,$D1024" --sizes 256,512,1024 \
    --size-weights "$BASE_WEIGHTS" --out "$W/base" --minutes "$BASE_MIN" --eval "$EVAL" "${BASE_RESUME[@]}"
  python3 tools/train/export.py --tokenizers "$W/md" --vae "$W/vae" --base "$W/base" --out "$W/model"
  tar -C "$W" -cf "$W/model-base.tar" model
fi
[ -z "$CROPS_JOB" ] || await_job "$CROPS_JOB" "$W/crops.log" "the crop renders"
python3 tools/train/train_lora.py --model-dir "$W/model" --images "$LORA_IMAGES" --out "$W/lora" \
  --minutes "$LORA_MIN" "${LORA_RESUME[@]}"
if [ -n "$DECODER_JOB" ]; then
  await_job "$DECODER_JOB" "$W/decoder.log" "the decoder stage"
  rm -rf "$W/vae" && mv "$W/vae-decoder" "$W/vae"
fi
python3 tools/train/export.py --tokenizers "$W/md" --vae "$W/vae" --base "$W/base" --lora "$W/lora" \
  --out "$W/model"
tar -C "$W" -cf "$W/model.tar" model
echo STAGES DONE
