#!/bin/bash
# run_device.sh: scaledit-tiny's stages on the GPU machine as one background job: render the
# training scenes, train the VAE, the text encoders + transformer at 256^2 then 512^2, the
# Scale-DiT LoRA at 1024^2 with 256^2 guidance, export.
# Start: setsid nohup tools/train/run_device.sh W >W/log 2>&1 &   (W: a work folder; poll W/log)
# Resume: RESUME=<exported model folder> reuses its vae/ and starts stage 2 from its weights.
set -euo pipefail
W=$1
: "${N512:=12000}" "${N1024:=1500}" "${VAE_MIN:=3}" "${B256_MIN:=5.5}" "${B512_MIN:=2.5}" "${LORA_MIN:=3}"
: "${RESUME:=}" "${EVAL:=32}"
export PYTHONUNBUFFERED=1
D512=/dev/shm/s512-$N512 D1024=/dev/shm/s1024-$N1024  # renders, reused by a rerun in the same machine
mkdir -p "$W/md"
cp -r models/scaledit-tiny/tokenizer models/scaledit-tiny/tokenizer_2 "$W/md/"
[ -f "$D512.npy" ] || python3 tools/train/data.py "$D512" --count "$N512" --size 512
if [ -d "$W/vae" ]; then  # a finished stage 1 of this work folder
  BASE_RESUME=()
elif [ -n "$RESUME" ]; then
  cp -r "$RESUME/vae" "$W/vae"
  BASE_RESUME=(--resume "$RESUME")
else
  python3 tools/train/train_vae.py --images "$D512" --out "$W/vae" --minutes "$VAE_MIN"
  BASE_RESUME=()
fi
rm -rf "$W/md/vae"; cp -r "$W/vae" "$W/md/vae"
python3 tools/train/train_base.py --model-dir "$W/md" --images "$D512" --size 256 \
  --out "$W/base256" --minutes "$B256_MIN" --eval "$EVAL" "${BASE_RESUME[@]}"
python3 tools/train/train_base.py --model-dir "$W/md" --images "$D512" --size 512 \
  --out "$W/base512" --minutes "$B512_MIN" --resume "$W/base256" --batch 128 --eval "$EVAL"
python3 tools/train/export.py --tokenizers "$W/md" --vae "$W/vae" --base "$W/base512" --out "$W/model"
tar -C "$W" -cf "$W/model-base.tar" model
[ -f "$D1024.npy" ] || python3 tools/train/data.py "$D1024" --first "$N512" --count "$N1024" --size 1024
python3 tools/train/train_lora.py --model-dir "$W/model" --images "$D1024" --out "$W/lora" \
  --minutes "$LORA_MIN"
python3 tools/train/export.py --tokenizers "$W/md" --vae "$W/vae" --base "$W/base512" --lora "$W/lora" \
  --out "$W/model"
tar -C "$W" -cf "$W/model.tar" model
echo STAGES DONE
